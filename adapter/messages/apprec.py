"""The answers to inbound XML (R15): an AppRec 1.0 to the sender office, or an error-queue report.

Both are pure functions of what they are given: the clock and the ids come in as arguments, and
the AppRec's own Id is derived from the message it answers, so answering a duplicate again gives
the very same receipt.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from adapter import __version__
from adapter.messages.envelope import HELSENORGE_HER_ID, Envelope
from adapter.messages.errors import CODE_NAMES_8221, CODE_SYSTEM_8221, InboundError
from adapter.messages.namespaces import APPREC_NS
from adapter.messages.privacy import mask

__all__ = ["APPREC_NS", "build_apprec", "build_error_report"]

APPREC_MIG_VERSION = "1.0 2004-11-21"
#: uuid5 namespace for AppRec Ids; fixed forever, or duplicates would get new receipt Ids.
_APPREC_IDS = uuid.UUID("6f1d7c3e-2b0a-5e51-9c47-8d3a1f0e6b25")
_STATUS_8258 = {True: ("1", "OK"), False: ("2", "Avvist")}


def build_apprec(
    envelope: Envelope,
    *,
    ok: bool,
    errors: Sequence[tuple[str, str]] = (),
    gen_date: dt.datetime,
    own_her_id: int = HELSENORGE_HER_ID,
) -> bytes:
    """An AppRec 1.0 answering `envelope`'s message: status 1 OK, or 2 Avvist with `errors`.

    `errors` are (kodeverk 8221 code, description) pairs; the description goes in the Error's
    OT, masked, the code's official name in its DN. A rejection needs at least one; OK takes none.
    """
    if gen_date.utcoffset() is None:
        raise ValueError("gen_date must carry a UTC offset")
    if ok == bool(errors):
        raise ValueError("an OK AppRec carries no errors, a rejection at least one")
    unknown = [code for code, _ in errors if code not in CODE_NAMES_8221]
    if unknown:
        raise ValueError(f"not kodeverk 8221 codes the adapter uses: {unknown}")
    status, status_name = _STATUS_8258[ok]
    error_elements = "".join(
        f"<Error V={_attr(code)} DN={_attr(CODE_NAMES_8221[code])} S={_attr(CODE_SYSTEM_8221)} "
        f"OT={_attr(mask(description))}/>"
        for code, description in errors
    )
    # A template, not a tree builder: this runs for every message, and is ten times faster.
    return (
        f"<?xml version='1.0' encoding='UTF-8'?>\n<AppRec xmlns=\"{APPREC_NS}\">"
        '<MsgType V="APPREC" DN="Applikasjonskvittering"/>'
        f"<MIGversion>{APPREC_MIG_VERSION}</MIGversion>"
        f"<SoftwareName>ddfl-adapter</SoftwareName><SoftwareVersion>{_text(__version__)}</SoftwareVersion>"
        f"<GenDate>{gen_date.isoformat()}</GenDate>"
        f"<Id>{_apprec_id(envelope, status, [code for code, _ in errors])}</Id>"
        f"<Sender>{_institution(own_her_id)}</Sender>"
        f"<Receiver>{_institution(envelope.sender_her_id)}</Receiver>"
        f'<Status V="{status}" DN="{status_name}"/>'
        f"{error_elements}"
        f"<OriginalMsgId><MsgType V={_attr(envelope.msg_type)}/>"
        f"<IssueDate>{envelope.gen_date.isoformat()}</IssueDate><Id>{_text(envelope.msg_id)}</Id></OriginalMsgId>"
        "</AppRec>"
    ).encode()


def build_error_report(error: InboundError, *, original_message_id: str | None) -> tuple[bytes, dict[str, str]]:
    """The body and AMQP application headers of a report on the sender's `_error` queue.

    As Helsenorge.Messaging does, the headers carry `errorCondition`, `errorDescription` and
    `originalMessageId` (the AMQP message id of the refused message; left out when unknown). The
    body is the same as JSON (content type application/json), with the 8221 code and event id.
    """
    if error.error_condition is None:
        raise ValueError(f"{error.event_id} is answered with an AppRec, not on the error queue")
    headers = {"errorCondition": error.error_condition, "errorDescription": error.description}
    if original_message_id is not None:
        headers["originalMessageId"] = original_message_id
    report = {
        "errorCondition": error.error_condition,
        "errorDescription": error.description,
        "originalMessageId": original_message_id,
        "msgId": error.envelope.msg_id if error.envelope else None,
        "code": error.code,
        "eventId": error.event_id,
    }
    return json.dumps(report, ensure_ascii=False).encode("utf-8"), headers


def _apprec_id(envelope: Envelope, status: str, codes: list[str]) -> str:
    """Same message, same answer, same Id; a different answer gets a different one."""
    key = "/".join([str(envelope.sender_her_id), envelope.msg_id, status, *codes])
    return str(uuid.uuid5(_APPREC_IDS, key))


def _institution(her_id: int) -> str:
    return f'<HCP><Inst><Id>{int(her_id)}</Id><TypeId V="HER" DN="HER-id"/></Inst></HCP>'


def _text(value: str) -> str:
    return escape(value)


def _attr(value: str) -> str:
    return quoteattr(value)

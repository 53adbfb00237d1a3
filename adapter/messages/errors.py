"""One typed error per reason to refuse an inbound XML message (R15).

Like Helsenorge.Messaging, each error knows how it is answered: with an AppRec carrying its
kodeverk 8221 `code` when the envelope could be read and its sender trusted, or otherwise with a
report on the sender's error queue carrying `error_condition`. `event_id` is stable, for logs and
alerts. No error text carries personal data: descriptions name fields, never their values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from adapter.messages.namespaces import OID_APPREC_ERRORS
from adapter.messages.privacy import mask

if TYPE_CHECKING:
    from adapter.messages.envelope import Envelope

#: Kodeverk 8221 (2.16.578.1.12.4.1.1.8221), the codes the adapter answers with, and their names.
CODE_SYSTEM_8221 = OID_APPREC_ERRORS
CODE_NAMES_8221: dict[str, str] = {
    "T01": "Ikke XML / ikke 'well formed' / uleselig",
    "T02": "XML validerer ikke",
    "T10": "Støtter ikke meldingsformatet",
    "E20": "Lege finnes ikke",
    "E21": "Mottaker finnes ikke",
    "E31": "Pasientens fødselsnummer er feil",
    "X99": "Annen feil",
}

#: Descriptions quote what the sender wrote (a message type, a parser's message); this keeps
#: a hostile value from bloating logs and AMQP headers.
MAX_DESCRIPTION = 500

NOT_WELL_FORMED = "transport:not-well-formed-xml"
INVALID_FIELD_VALUE = "transport:invalid-field-value"
UNSUPPORTED_MESSAGE = "transport:unsupported-message"
SPOOFING_ATTACK = "abuse:spoofing-attack"


class InboundError(Exception):
    """A refused inbound XML message.

    `envelope` is set once the MsgHead envelope has been read; `reported_sender` is the HER-id
    whose error queue or AppRec receives the answer (None: nobody can be told, only log it).
    """

    code: ClassVar[str]
    event_id: ClassVar[str]
    #: Set when the answer is an error-queue report instead of an AppRec.
    error_condition: ClassVar[str | None] = None
    #: Whether the envelope's sender is told, when nobody else is named.
    answers_envelope_sender: ClassVar[bool] = True
    #: What the sender should do about it (docs/errors.md).
    sender_action: ClassVar[str] = "Correct the message and send it again with a new MsgId."

    def __init__(
        self,
        description: str,
        *,
        envelope: Envelope | None = None,
        reported_sender: int | None = None,
    ) -> None:
        self.description = mask(description)[:MAX_DESCRIPTION]
        self.envelope = envelope
        if reported_sender is None and envelope is not None and self.answers_envelope_sender:
            reported_sender = envelope.sender_her_id
        self.reported_sender = reported_sender
        super().__init__(f"{self.event_id}: {self.description}")


# --- before the envelope is read: answered on the error queue ----------------------------------


class TooLarge(InboundError):
    """A message larger than DDFL_MAX_MESSAGE_BYTES (1 MiB by default)."""

    sender_action = "Send the status or roster without attachments; it is far below the limit."
    code, event_id, error_condition = "T01", "DDFL-T01-TOO-LARGE", NOT_WELL_FORMED


class NotWellFormed(InboundError):
    """Not well-formed XML."""

    sender_action = "Fix the XML writer; validate with xmllint before sending (schemas/README.md)."
    code, event_id, error_condition = "T01", "DDFL-T01-NOT-WELL-FORMED", NOT_WELL_FORMED


class BadEncoding(InboundError):
    """The bytes do not match the declared (or detected) encoding."""

    sender_action = "Send UTF-8 (or what the XML declaration says), with a matching declaration."
    code, event_id, error_condition = "T01", "DDFL-T01-BAD-ENCODING", NOT_WELL_FORMED


class TooDeep(InboundError):
    """Elements nested deeper than any KITH message needs."""

    sender_action = "Fix the XML writer: no MsgHead needs such nesting."
    code, event_id, error_condition = "T01", "DDFL-T01-TOO-DEEP", NOT_WELL_FORMED


class DoctypeForbidden(InboundError):
    """Any DOCTYPE: the door to XXE, entity expansion and DTD fetching, and never needed by KITH."""

    sender_action = "Remove the DOCTYPE: KITH messages never carry one."
    code, event_id, error_condition = "T02", "DDFL-T02-DOCTYPE", NOT_WELL_FORMED


class NotMsgHead(InboundError):
    """Well-formed XML that is not a MsgHead 1.2 (an AppRec, a wrapper, anything else)."""

    sender_action = "Send a MsgHead 1.2 (v1.2 2006-05-24) as the root element."
    code, event_id, error_condition = "T10", "DDFL-T10-NOT-MSGHEAD", UNSUPPORTED_MESSAGE


class UnreadableEnvelope(InboundError):
    """A MsgHead without what an AppRec needs: type, GenDate, MsgId and the sender's HER-id."""

    sender_action = "Fill in MsgInfo/Type, MsgId, GenDate and the sender organisation's HER-id."
    code, event_id, error_condition = "T02", "DDFL-T02-ENVELOPE-UNREADABLE", INVALID_FIELD_VALUE


# --- after the envelope is read --------------------------------------------------------------


class SpoofedSender(InboundError):
    """The AMQP `fromHerId` differs from the MsgHead sender office (R13).

    Reported to the transport-level sender named by the header, never to the office the message
    claims to come from: that one may be the victim.
    """

    sender_action = "Send only on behalf of the office named in MsgHead; make fromHerId match its HER-id."
    code, event_id, error_condition = "X99", "DDFL-X99-SPOOFING", SPOOFING_ATTACK
    answers_envelope_sender = False


class ReceiverUnknown(InboundError):
    """The MsgHead receiver is not the adapter's HER-id."""

    sender_action = "Address the message to Helsenorge.no (HER-id 8093244) or to the right receiver."
    code, event_id = "E21", "DDFL-E21-RECEIVER-UNKNOWN"


class UnsupportedMessageType(InboundError):
    """A MsgHead type the adapter does not handle."""

    sender_action = "Send only the types the contract lists (Tjenestestatus, Behandleroversikt, Dialogmelding)."
    code, event_id = "T10", "DDFL-T10-UNSUPPORTED-TYPE"


class InvalidPatientId(InboundError):
    """A patient FNR/D-nummer fails the mod-11 check."""

    sender_action = "Correct the patient's identifier and send again."
    code, event_id = "E31", "DDFL-E31-INVALID-FNR"


class PractitionerNotIdentified(InboundError):
    """No HPR-nummer where one is required, or one that is not 6 to 9 digits."""

    sender_action = "Identify the practitioner with a valid HPR-nummer (6 to 9 digits)."
    code, event_id = "E20", "DDFL-E20-PRACTITIONER-NOT-IDENTIFIED"


class InvalidMessage(InboundError):
    """A readable envelope, but the message breaks MsgHead, its payload schema or the contract."""

    sender_action = "Validate the payload against schemas/ before sending (schemas/README.md); correct and resend."
    code, event_id = "T02", "DDFL-T02-INVALID"

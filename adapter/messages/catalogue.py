"""Every refusal and every log event id, enumerable: the source of `docs/errors.md`.

Written in the manner of Helsenorge.Messaging's Feilkoder.md: code, event id, meaning, and what
the sender (or the operator) should do. Inbound XML refusals are read from the typed errors in
`adapter.messages.errors`; the rest are tables here. `ddfl-adapter contracts` writes the document
and `contracts --check` (and a test) fails when it drifts from the code.

The domain's rejections (`DOMAIN_REJECTIONS`, the absence reasons it refuses with) are read from
its typed catalogue, `adapter.domain.rejections.Refusal`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.rejections import Refusal
from .errors import CODE_NAMES_8221, InboundError


@dataclass(frozen=True)
class Entry:
    """One refusal or log event."""

    event_id: str
    #: kodeverk 8221 code (XML), reason key (absences), or "" for operational events
    code: str
    #: how it is answered: AppRec, error queue (with errorCondition), invalid path, log only
    answer: str
    meaning: str
    action: str


def _subclasses(cls: type[InboundError]) -> list[type[InboundError]]:
    found: list[type[InboundError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _first_line(doc: str | None) -> str:
    """A docstring's first paragraph as one line of the table: its lines joined, their indentation
    (kept in a docstring before Python 3.13) cut to one space."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def inbound_refusals() -> list[Entry]:
    """One entry per typed `InboundError` (kodeverk 8221 code, event id)."""
    entries = []
    for error in _subclasses(InboundError):
        answer = f"error queue: `{error.error_condition}`" if error.error_condition else "AppRec, status 2 Avvist"
        entries.append(Entry(error.event_id, error.code, answer, _first_line(error.__doc__), error.sender_action))
    return sorted(entries, key=lambda e: (e.code, e.event_id))


#: What a sender should do about each of the domain's XML refusals (the refusals themselves, with
#: their codes and meanings, are `adapter.domain.rejections.Refusal`).
_SENDER_ACTIONS: dict[str, str] = {
    "E20": "Send the office's behandleroversikt first (or correct the HPR-nummer), then the message again.",
    "X99": "Correct the sending system's clock; send again with a new MsgId.",
}

#: The domain's rejections of a readable, trusted message: answered with an AppRec (XML) or on the
#: invalid-absence queue, logged as `DDFL-{code}-REJECTED` / `DDFL-ABSENCE-{REASON}`.
DOMAIN_REJECTIONS: tuple[tuple[str, str, str], ...] = tuple(
    (r.code, f"{r.meaning[0].upper()}{r.meaning[1:]}.", _SENDER_ACTIONS[r.code])
    for r in Refusal
    if r.code in CODE_NAMES_8221
)

#: Absence commands from Tilpass Helsenorge that cannot be read: reason key (the `reason` header on
#: the invalid path). The domain's own absence refusals follow from `Refusal`.
_ABSENCE_PARSE_REASONS: tuple[tuple[str, str], ...] = (
    ("invalid_json", "The body is not a JSON object."),
    ("unknown_type", "`type` is not absence.registered or absence.deleted."),
    ("missing_field", "A required field is missing or null."),
    ("invalid_field", "A field has the wrong JSON type or form (HPR-nummer, HER-id, absence_id)."),
    ("invalid_date", "A date or instant is not ISO 8601 (instants with an offset)."),
    ("unknown_service", "`services` names a service the contract does not know."),
)


def _absence_reasons() -> tuple[tuple[str, str], ...]:
    reasons = dict(_ABSENCE_PARSE_REASONS)
    for r in Refusal:
        if r.code not in CODE_NAMES_8221:
            meaning = f"{r.meaning[0].upper()}{r.meaning[1:]}."
            reasons[r.code] = f"{reasons[r.code]} Or: {meaning}" if r.code in reasons else meaning
    return tuple(reasons.items())


#: Every reason key an absence command can be refused with.
ABSENCE_REASONS: tuple[tuple[str, str], ...] = _absence_reasons()

_ABSENCE_ACTION = "Correct the command in Tilpass Helsenorge and send it again; nothing was changed."

#: The portal's resync requests that cannot be read: reason key (the `reason` header on the
#: invalid-resync queue; `adapter.service.commands.parse_resync` gives them).
RESYNC_REASONS: tuple[tuple[str, str], ...] = (
    ("invalid_json", "The body is not a JSON object."),
    ("unknown_type", "`type` is not resync.requested."),
    ("missing_field", "`request_id` or `office_her_id` is missing (`office_her_id` null asks for every pair)."),
    ("invalid_field", "`request_id` is not 1-64 letters, digits, `.`, `_`, `-`, or `office_her_id` is not a HER-id."),
)

_RESYNC_ACTION = "Correct the request and send it again; nothing was sent."
_RESYNC_PREFIX = "DDFL-RESYNC-"

#: Log events that are not refusals: what an operator sees, and what to do about it.
OPERATIONAL_EVENTS: tuple[tuple[str, str, str], ...] = (
    ("DDFL-DUPLICATE", "A message seen before (same sender, same MsgId, or the same absence bytes): "
     "nothing changes, the first AppRec is sent again.", "Nothing; a sender retrying is normal."),
    ("DDFL-UNEXPECTED", "A bug while handling one item: it is handed back and redelivered, then "
     "dead-lettered after the delivery limit; the rest of the batch goes on.",
     "Report the `error_id` (type and place); look at the dead-letter queue."),
    ("DDFL-BATCH-FAILED", "The store failed to commit a batch: every item is redelivered.",
     "Check the store (disk, PostgreSQL); nothing is lost."),
    ("DDFL-CLOCK-FAILED", "A clock round failed; it is retried.", "Check the store if it repeats."),
    ("DDFL-CLOCK-PREPARED", "A minute before a due instant (a midnight where absences begin or end), "
     "the clock worked out its ticks ahead (`pairs`): after it only writing and publishing is left.",
     "Nothing."),
    ("DDFL-CLOCK-PREPARE-FAILED", "Working out a due instant's ticks ahead failed: they are worked out "
     "when due, as usual (the burst takes longer).", "Check the store if it repeats."),
    ("DDFL-RELAY-RETRY", "Publishing the outbox failed (broker away); the rows stay and are retried.",
     "Check the broker connection if it repeats."),
    ("DDFL-UNDELIVERABLE", "A receipt for a queue that does not exist (`{sender}_async`/`_error`): "
     "counted, dropped, the adapter carries on.", "Tell the sender office its queue is missing."),
    ("DDFL-API-UNEXPECTED", "A bug while answering a read API request: the client gets 500 with the "
     "`error_id` and nothing else; the writer is not affected.", "Report the `error_id` (the error's type is logged)."),
    ("DDFL-CONSOLE-REFUSED", "A support console request carried a credential that is not "
     "`DDFL_CONSOLE_TOKEN` (answered 403; what was sent is not logged).",
     "Nothing if it is a typo; if it repeats, someone is guessing: check who reaches the port."),
    ("DDFL-RELAY-LEADER", "This replica's relay took the outbox over (one publishes at a time across "
     "replicas): at start, or because the previous leader stopped or died.",
     "Nothing; if it flaps between replicas, check their store connections."),
    ("DDFL-RELAY-STANDBY", "This replica's relay gave the outbox up (at shutdown); another takes over.",
     "Nothing."),
    ("DDFL-RETENTION-PRUNED", "Retention deleted rows past their window (sent outbox rows, inbox rows "
     "past the deduplication window, old closed conversations).", "Nothing."),
    ("DDFL-RETENTION-FAILED", "A retention round failed (store away); it is tried again next round.",
     "Check the store if it repeats; rows are only kept longer meanwhile."),
    ("DDFL-CHECKPOINT-FAILED", "A SQLite store's background checkpoint (copying the WAL back into "
     "the database file) failed; commits are not affected, the WAL stays longer until the next one.",
     "Nothing if it is rare; if it repeats, check the disk (space, errors) under the store's file."),
    ("DDFL-ACK-FAILED", "Acknowledging committed deliveries failed (the channel closed): the broker "
     "delivers them again and the inbox answers them as duplicates.", "Check the broker connection if it repeats."),
    ("DDFL-PARSER-RESTARTED", "A parsing worker (DDFL_PARSE_WORKERS) died or stopped answering: it is "
     "killed and replaced; its batch is parsed in the adapter's process, nothing is lost or held.",
     "Nothing if it is rare; if it repeats, look for what kills it (memory limits, the OOM killer)."),
    ("DDFL-UNSETTLED", "A delivery could not be handed to the pipeline: it is returned to the queue "
     "(counted towards the delivery limit), never left unsettled.", "Report it; look at the dead-letter queue."),
    ("DDFL-BROKER-NODE", "Connected to a RabbitMQ node (one of DDFL_AMQP_URL's).", "Nothing."),
    ("DDFL-BROKER-NODE-DOWN", "A RabbitMQ node of DDFL_AMQP_URL did not answer; the next one is tried.",
     "Check that node; the adapter carries on on another."),
    ("DDFL-BROKER-DISCONNECTED", "The broker connection is down: /health answers 503 until it is back.",
     "Check RabbitMQ and the network; the adapter reconnects by itself."),
    ("DDFL-BROKER-RECONNECTED", "The broker connection is back, channels and consumers restored.", "Nothing."),
    ("DDFL-PUBLISH-REFUSED", "The broker refused (nacked) a publish, e.g. right after a quorum queue's "
     "leader died: retried on a new channel.", "Nothing if it passes; check the cluster if it repeats."),
    ("DDFL-STORE-UNHEALTHY", "The store could not commit the health check's write: /health answers 503.",
     "Check the store (disk, PostgreSQL)."),
    ("DDFL-RESYNC-STARTED", "A resync request is being answered (`request_id`, `office_her_id`, null for "
     "all): snapshots go to the portal's queue, chunk by chunk, between batches.", "Nothing."),
    ("DDFL-RESYNC-COMPLETED", "Every snapshot of a resync is in the outbox, then `resync.completed` "
     "(`pairs` and `offices` say how many pairs and booking lists).", "Nothing."),
    ("DDFL-RESYNC-FAILED", "The store failed during a resync: the request is redelivered and resumes "
     "after the last committed chunk.", "Check the store (disk, PostgreSQL) if it repeats."),
    ("DDFL-STARTUP-FAILED", "The adapter could not start: the line names the setting and what to do.",
     "Do what the line says (a variable to fix, a port to free, a service to start)."),
    ("DDFL-STARTED", "The adapter is consuming.", "Nothing."),
    ("DDFL-STOPPED", "The adapter stopped after finishing what was in flight.", "Nothing."),
)  # fmt: skip


def catalogue() -> list[Entry]:
    """Every event id the adapter logs, refusals first."""
    entries = inbound_refusals()
    entries += [
        Entry(f"DDFL-{code}-REJECTED", code, "AppRec, status 2 Avvist", m, a) for code, m, a in DOMAIN_REJECTIONS
    ]
    entries += [
        Entry(f"DDFL-ABSENCE-{reason.upper()}", reason, "invalid-absence queue", meaning, _ABSENCE_ACTION)
        for reason, meaning in ABSENCE_REASONS
    ]
    entries += [
        Entry(f"{_RESYNC_PREFIX}{reason.upper()}", reason, "invalid-resync queue", meaning, _RESYNC_ACTION)
        for reason, meaning in RESYNC_REASONS
    ]
    entries += [Entry(event_id, "", "log only", meaning, action) for event_id, meaning, action in OPERATIONAL_EVENTS]
    return entries


def is_xml_refusal(entry: Entry) -> bool:
    """An entry whose code is kodeverk 8221's (not an absence's or a resync's reason key)."""
    return bool(entry.code) and not entry.event_id.startswith(("DDFL-ABSENCE-", _RESYNC_PREFIX))


def render_markdown() -> str:
    """docs/errors.md, exactly."""

    def row(*cells: str) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [
        "# Error codes and log events",
        "",
        "Generated from the code by `ddfl-adapter contracts` (adapter/messages/catalogue.py); do not edit.",
        "Every refusal changes nothing; every log line carries one of these `event` ids.",
        "",
        "## Inbound XML (AppRec codes, kodeverk 8221)",
        "",
        row("code", "name", "event id", "answer", "meaning", "what the sender should do"),
        row("---", "---", "---", "---", "---", "---"),
    ]
    for e in catalogue():
        if not is_xml_refusal(e):
            continue
        lines.append(row(e.code, CODE_NAMES_8221[e.code], f"`{e.event_id}`", e.answer, e.meaning, e.action))

    def reasons(title: str, prefix: str, who: str) -> list[str]:
        """A table of reason keys (the `reason` header of an invalid path)."""
        header = ["", f"## {title} (reason keys)", "", row("reason", "event id", "answer", "meaning", who)]
        return [
            *header,
            row("---", "---", "---", "---", "---"),
            *(
                row(f"`{e.code}`", f"`{e.event_id}`", e.answer, e.meaning, e.action)
                for e in catalogue()
                if e.code and e.event_id.startswith(prefix)
            ),
        ]

    lines += reasons("Absence commands", "DDFL-ABSENCE-", "what the sender should do")
    lines += reasons("Resync requests from the portal", _RESYNC_PREFIX, "what the portal should do")
    lines += ["", "## Operational events", "", row("event id", "meaning", "what to do"), row("---", "---", "---")]
    lines += [row(f"`{e.event_id}`", e.meaning, e.action) for e in catalogue() if not e.code]
    return "\n".join(lines) + "\n"

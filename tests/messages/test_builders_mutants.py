"""Pins what the mutation run of issue 15 found unpinned in the tjenestestatus and behandleroversikt
builders: that their Ack, receiver and comment reach the MsgHead, their defaults (ack requested,
Helsenorge addressed directly), a practitioner's personal HER-id and an open-ended substitute
period (R9). The fixtures and replay generator are made with these builders, so a silent drop
would change what the tests feed the adapter."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from adapter.domain.model import Process, Role
from adapter.messages.builders import Office, Person, RosterEntry, behandleroversikt, tjenestestatus
from adapter.messages.namespaces import BEHANDLEROVERSIKT_NS, MSGHEAD_NS

OFFICE = Office(her_id=81234, name="Testlegekontoret")
GP = Person(hpr="9144900", given_name="Kari", family_name="Lege")
GEN = dt.datetime(2024, 1, 2, 10, 0, tzinfo=dt.UTC)
NS = {"mh": MSGHEAD_NS, "bo": BEHANDLEROVERSIKT_NS}
ACK_YES = b'<Ack V="J" DN="Ja"/>'
ACK_NO = b'<Ack V="N" DN="Nei"/>'
NHN = b"<OrganisationName>Norsk helsenett SF</OrganisationName>"


def _status(**kwargs: object) -> bytes:
    return tjenestestatus(
        office=OFFICE,
        gp=GP,
        gen_date=GEN,
        msg_id="m-1",
        statuses={Process.TIMERESERVASJON: True},
        complete=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _roster(entries: list[RosterEntry], **kwargs: object) -> bytes:
    return behandleroversikt(office=OFFICE, entries=entries, gen_date=GEN, msg_id="m-2", **kwargs)  # type: ignore[arg-type]


def test_tjenestestatus_defaults_request_an_ack_and_address_helsenorge_directly() -> None:
    """By default a status asks for an AppRec and is addressed to Helsenorge.no, not via NHN."""
    xml = _status()
    assert ACK_YES in xml and ACK_NO not in xml
    assert NHN not in xml
    assert b"<!--" not in xml


def test_tjenestestatus_passes_ack_receiver_and_comment_to_the_msghead() -> None:
    """ack=False, via_nhn=True and a comment must each change the message, not be dropped."""
    xml = _status(ack=False, via_nhn=True, comment="status note")
    assert ACK_NO in xml and ACK_YES not in xml
    assert NHN in xml
    assert b"<!-- status note -->\n" in xml
    etree.fromstring(xml)


def test_behandleroversikt_defaults_request_an_ack() -> None:
    """By default a roster asks for an AppRec and carries no comment."""
    xml = _roster([RosterEntry(person=GP)])
    assert ACK_YES in xml and ACK_NO not in xml
    assert b"<!--" not in xml


def test_behandleroversikt_passes_ack_and_comment_to_the_msghead() -> None:
    """ack=False and a comment must each reach the MsgHead."""
    xml = _roster([RosterEntry(person=GP)], ack=False, comment="roster note")
    assert ACK_NO in xml and ACK_YES not in xml
    assert b"<!-- roster note -->\n" in xml


def test_behandleroversikt_lists_a_personal_her_id_only_when_there_is_one() -> None:
    """A practitioner's own HER-id (DOMAIN.md, identifiers) is written; none, no <HER>."""
    with_her = Person(hpr="9144901", given_name="Ola", family_name="Vikar", her_id=8765432)
    root = etree.fromstring(_roster([RosterEntry(person=with_her), RosterEntry(person=GP)]))
    rows = root.findall(".//bo:Behandler", NS)
    assert [row.findtext("bo:HER", namespaces=NS) for row in rows] == ["8765432", None]


def test_r9_an_open_ended_substitute_period_has_no_end_date() -> None:
    """R9: a substitute with no end date covers until further notice — no <TilDato>, nothing else."""
    sub = Person(hpr="9144901", given_name="Ola", family_name="Vikar")
    open_ended = RosterEntry(person=sub, role=Role.VIKAR_FOR_FASTLEGE.value, covers=(GP.hpr, dt.date(2024, 1, 1), None))
    xml = _roster([open_ended])
    assert (
        b"            <VikarFor>\n"
        b"              <HPR>9144900</HPR>\n"
        b"              <FraDato>2024-01-01</FraDato>\n"
        b"            </VikarFor>\n"
    ) in xml
    assert b"TilDato" not in xml
    closed = RosterEntry(
        person=sub, role=Role.VIKAR_FOR_FASTLEGE.value, covers=(GP.hpr, dt.date(2024, 1, 1), dt.date(2024, 2, 1))
    )
    assert b"<TilDato>2024-02-01</TilDato>" in _roster([closed])

"""Small builders of valid inbound messages for tests that need many of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24">
  <MsgInfo>
    <Type V="{type}" DN="{type}"/>
    <MIGversion>v1.2 2006-05-24</MIGversion>
    <GenDate>{gen_date}</GenDate>
    <MsgId>{msg_id}</MsgId>
    <Ack V="{ack}" DN="{ack}"/>
    <Sender>
      <Organisation>
        <OrganisationName>Legekontor {office}</OrganisationName>
        <Ident><Id>{office}</Id><TypeId V="HER" DN="HER-id" S="2.16.578.1.12.4.1.1.9051"/></Ident>{professional}
      </Organisation>
    </Sender>
    <Receiver>
      <Organisation>
        <OrganisationName>Helsenorge.no</OrganisationName>
        <Ident><Id>8093244</Id><TypeId V="HER" DN="HER-id" S="2.16.578.1.12.4.1.1.9051"/></Ident>
      </Organisation>
    </Receiver>
  </MsgInfo>
  <Document>
    <RefDoc>
      <MsgType V="XML" DN="XML-instans"/>
      <Content>
{content}
      </Content>
    </RefDoc>
  </Document>
</MsgHead>
"""

_PROFESSIONAL = """
        <HealthcareProfessional>
          <RoleToPatient V="6" DN="Fastlege" S="2.16.578.1.12.4.1.1.9034"/>
          <FamilyName>Lege</FamilyName>
          <GivenName>Test</GivenName>
          <Ident><Id>{hpr}</Id><TypeId V="HPR" DN="HPR-nummer" S="2.16.578.1.12.4.1.1.8116"/></Ident>
        </HealthcareProfessional>"""


def roster_xml(office: int, hprs: Iterable[str], *, msg_id: str, gen_date: dt.datetime, ack: str = "N") -> bytes:
    entries = "\n".join(
        f"""          <Behandler>
            <HPR>{hpr}</HPR>
            <Fornavn>Lege</Fornavn>
            <Etternavn>{hpr}</Etternavn>
            <Rolle V="6" DN="Fastlege" S="2.16.578.1.12.4.1.1.9034"/>
          </Behandler>"""
        for hpr in hprs
    )
    content = f"""        <Behandleroversikt xmlns="urn:no:ddfl-adapter:behandleroversikt:1">
{entries}
        </Behandleroversikt>"""
    return _HEAD.format(
        type="DIALOG_INNBYGGER_BEHANDLEROVERSIKT",
        gen_date=gen_date.isoformat(),
        msg_id=msg_id,
        ack=ack,
        office=office,
        professional="",
        content=content,
    ).encode()


def status_xml(
    office: int,
    hpr: str,
    statuses: Mapping[str, bool],
    *,
    msg_id: str,
    gen_date: dt.datetime,
    complete: bool = True,
    source: str = "EPJ",
    ack: str = "N",
) -> bytes:
    processes = "\n".join(
        f'          <Prosess navn="{name}" status="{"PÅ" if on else "AV"}"/>' for name, on in statuses.items()
    )
    content = f"""        <Tjenestestatus xmlns="urn:no:ddfl-adapter:tjenestestatus:1">
          <Kilde V="{source}" DN="{source}"/>
          <Komplett>{"true" if complete else "false"}</Komplett>
{processes}
        </Tjenestestatus>"""
    return _HEAD.format(
        type="DIALOG_INNBYGGER_TJENESTESTATUS",
        gen_date=gen_date.isoformat(),
        msg_id=msg_id,
        ack=ack,
        office=office,
        professional=_PROFESSIONAL.format(hpr=hpr),
        content=content,
    ).encode()

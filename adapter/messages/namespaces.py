"""XML namespaces and code-system OIDs of the messages the adapter reads, answers and builds:
their one home (the parsers, the AppRec, the schemas and the message builders all take them here)."""

from __future__ import annotations

from adapter.domain.model import TEMA_CODE_SYSTEM

MSGHEAD_NS = "http://www.kith.no/xmlstds/msghead/2006-05-24"
APPREC_NS = "http://www.kith.no/xmlstds/apprec/2004-11-21"
DIALOG_NS = "http://www.kith.no/xmlstds/dialog/2013-01-23"
TJENESTESTATUS_NS = "urn:no:ddfl-adapter:tjenestestatus:1"
BEHANDLEROVERSIKT_NS = "urn:no:ddfl-adapter:behandleroversikt:1"

#: Kodeverk 9051: identifier types of organisations (HER-id).
OID_ORGANISATION_IDS = "2.16.578.1.12.4.1.1.9051"
#: Kodeverk 8116: identifier types of persons (HPR-nummer, FNR, DNR).
OID_PERSON_IDS = "2.16.578.1.12.4.1.1.8116"
#: Kodeverk 9034: a practitioner's role to the patient (fastlege, vikar).
OID_ROLES = "2.16.578.1.12.4.1.1.9034"
#: Kodeverk 7602: the theme of a dialogue note (13 and 27 close a conversation, R7).
OID_TEMA = TEMA_CODE_SYSTEM  # the domain's (R7 reads it); named here with the others
#: Kodeverk 8221: AppRec error codes.
OID_APPREC_ERRORS = "2.16.578.1.12.4.1.1.8221"

"""Absence commands from Tilpass Helsenorge (JSON) → RegisterAbsence / DeleteAbsence (R14).

Every refusal is an `AbsenceRejected` with a short reason key for receipts and metrics and a
description for the log; nothing else escapes, whatever the bytes. Fields the contract does not
know are ignored, so Tilpass Helsenorge can add some without breaking the adapter.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from adapter.domain.engine import validate_absence
from adapter.domain.model import DeleteAbsence, RegisterAbsence, Service
from adapter.messages.building import build
from adapter.messages.identifiers import HPR_PATTERN, is_her_id

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
T = TypeVar("T")
_JSON_TYPES: dict[type, str] = {str: "string", int: "integer", list: "array"}
_SERVICE_KEYS = frozenset(service.value for service in Service)
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})")


class AbsenceRejected(Exception):
    """An absence command that changes nothing; `reason` is a short stable key."""

    def __init__(self, reason: str, description: str, absence_id: str | None = None) -> None:
        self.reason = reason
        self.description = description
        self.absence_id = absence_id
        super().__init__(f"{reason}: {description}")


def parse_absence(body: bytes) -> RegisterAbsence | DeleteAbsence:
    """Parse and validate one absence command, or raise `AbsenceRejected`."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise AbsenceRejected("invalid_json", f"not JSON: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise AbsenceRejected("invalid_json", "not a JSON object")
    fields = _Fields(document, _nameable(document.get("absence_id")))
    kind = fields.required("type", str)
    if kind == "absence.registered":
        return _registered(fields)
    if kind == "absence.deleted":
        return _deleted(fields)
    raise fields.reject("unknown_type", f"type {kind!r} is not absence.registered or absence.deleted")


def _nameable(absence_id: object) -> str | None:
    """The absence id a refusal may name: a string UTF-8 can carry (the log, the receipts and the
    store all write UTF-8; a lone surrogate, which JSON's `\\uD800` escapes can spell, is none)."""
    if not isinstance(absence_id, str):
        return None
    try:
        absence_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return absence_id


def _registered(fields: _Fields) -> RegisterAbsence:
    command = {
        "absence_id": fields.identifier(),
        "office_her_id": fields.her_id("office_her_id"),
        "practitioner_hpr": fields.hpr("practitioner_hpr"),
        "from_date": fields.date("from"),
        "to_date": fields.date("to"),
        "services": fields.services(),
        "registered_by_hpr": fields.hpr("registered_by_hpr"),
        "registered_at": fields.instant("registered_at"),
    }
    registered = build(RegisterAbsence, fields.invalid, **command)
    if (invalid := validate_absence(registered)) is not None:  # R14, as the domain states it
        raise fields.reject(invalid.code, invalid.reason)
    return registered


def _deleted(fields: _Fields) -> DeleteAbsence:
    return build(
        DeleteAbsence,
        fields.invalid,
        absence_id=fields.identifier(),
        office_her_id=fields.her_id("office_her_id"),
        deleted_by_hpr=fields.hpr("deleted_by_hpr"),
        deleted_at=fields.instant("deleted_at"),
    )


class _Fields:
    """Typed access to the command's fields; each accessor refuses with the reason that fits."""

    def __init__(self, document: dict[str, Any], absence_id: str | None) -> None:
        self._document = document
        self._absence_id = absence_id

    def reject(self, reason: str, description: str) -> AbsenceRejected:
        return AbsenceRejected(reason, description, self._absence_id)

    def invalid(self, description: str) -> AbsenceRejected:
        return self.reject("invalid_field", description)

    def required(self, name: str, kind: type[T]) -> T:
        if name not in self._document or self._document[name] is None:
            raise self.reject("missing_field", f"{name} is missing")
        value = self._document[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.invalid(f"{name} must be a JSON {_JSON_TYPES[kind]}")
        return value

    def identifier(self) -> str:
        value = self.required("absence_id", str)
        if not value.strip():
            raise self.invalid("absence_id is empty")
        if _nameable(value) is None:
            raise self.invalid("absence_id is not Unicode text: it holds a lone surrogate")
        return value

    def her_id(self, name: str) -> int:
        value = self.required(name, int)
        if not is_her_id(value):
            raise self.invalid(f"{name} must be a HER-id: a positive integer of at most 9 digits")
        return value

    def hpr(self, name: str) -> str:
        return self._matching(name, HPR_PATTERN, "invalid_field", "a string of 6 to 9 digits")

    def date(self, name: str) -> dt.date:
        return self._parsed(name, _DATE, dt.date.fromisoformat, "a date YYYY-MM-DD")

    def instant(self, name: str) -> dt.datetime:
        return self._parsed(name, _INSTANT, dt.datetime.fromisoformat, "an ISO 8601 instant with an offset")

    def services(self) -> frozenset[Service]:
        value = self.required("services", list)
        if not value:
            raise self.reject("no_services", "services is empty")
        unknown = [service for service in value if not isinstance(service, str) or service not in _SERVICE_KEYS]
        if unknown:
            raise self.reject("unknown_service", f"unknown services {unknown!r}")
        return frozenset(Service(service) for service in value)

    def _matching(self, name: str, pattern: re.Pattern[str], reason: str, form: str) -> str:
        value = self.required(name, str)
        if not pattern.fullmatch(value):
            raise self.reject(reason, f"{name} must be {form}")
        return value

    def _parsed(self, name: str, pattern: re.Pattern[str], parse: Callable[[str], T], form: str) -> T:
        value = self._matching(name, pattern, "invalid_date", form)
        try:
            return parse(value)
        except ValueError:
            raise self.reject("invalid_date", f"{name} must be {form}") from None

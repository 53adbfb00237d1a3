"""`booking.relisted` (issue 14): the list last published with the changed pairs' lines replaced is
the list built from every pair, whenever the other pairs still show what the list was built from.
Random rosters (GPs, substitutes, other roles, names equal but for case) and availabilities
(bookable or not, carrying a substitute or not); a few pairs change, some not on the roster."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.domain import booking
from adapter.domain.events import Availability, BookingView, SubstituteView
from adapter.domain.model import Practitioner, Status, SubstituteFor
from adapter.domain.state import NOTHING_OFFERED, OfficeState, replaced

PROPERTIES = settings(
    max_examples=int(__import__("os").environ.get("PROPERTY_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
HPRS = [f"10000{n:02d}" for n in range(12)]
NAMES = st.sampled_from(["Astrid", "astrid", "Bjørn", "Ole", "Åse", ""])


@st.composite
def practitioners(draw: st.DrawFn, hpr: str) -> Practitioner:
    role = draw(st.sampled_from(["6", "6", "15", "99", "7"]))
    covers = None
    if role == "15" and draw(st.booleans()):
        covers = SubstituteFor(gp_hpr=draw(st.sampled_from(HPRS)), from_date=dt.date(2024, 7, 1), to_date=None)
    return Practitioner(
        hpr=hpr,
        given_name=draw(NAMES),
        family_name=draw(NAMES),
        role=role,
        role_name=draw(st.sampled_from(["", "Jordmor", "psykolog"])),
        covers=covers,
    )


@st.composite
def availabilities(draw: st.DrawFn) -> Availability:
    status = draw(st.sampled_from(list(Status)))
    substitute = None
    if draw(st.booleans()):
        substitute = SubstituteView(
            hpr=draw(st.sampled_from(HPRS)), name=draw(NAMES), from_date=dt.date(2024, 7, 1), to_date=None
        )
    booking_view = BookingView(status=status, info_visible=True)
    services = NOTHING_OFFERED.services.model_copy(update={"TIMEBESTILLING": booking_view})
    return NOTHING_OFFERED.model_copy(update={"services": services, "substitute": substitute})


@st.composite
def offices_and_changes(
    draw: st.DrawFn,
) -> tuple[OfficeState, dict[str, Availability], dict[str, Availability]]:
    on_roster = draw(st.lists(st.sampled_from(HPRS), unique=True, max_size=len(HPRS)))
    roster = {hpr: draw(practitioners(hpr)) for hpr in on_roster}
    before = {hpr: draw(availabilities()) for hpr in draw(st.lists(st.sampled_from(HPRS), unique=True))}
    changed = {hpr: draw(availabilities()) for hpr in draw(st.lists(st.sampled_from(HPRS), unique=True, max_size=4))}
    office = OfficeState(her_id=1, roster=roster)
    return replaced(office, {"booking": booking.booking_list(office, before), "booking_sequence": 3}), before, changed


@PROPERTIES
@given(offices_and_changes())
def test_the_published_list_with_the_changed_pairs_lines_replaced_is_the_whole_list(
    case: tuple[OfficeState, dict[str, Availability], dict[str, Availability]],
) -> None:
    office, before, changed = case
    assert booking.relisted(office, changed) == booking.booking_list(office, before | changed)


def test_a_pair_that_changes_nothing_leaves_the_list_as_it_was() -> None:
    gp = Practitioner(hpr=HPRS[0], given_name="Astrid", family_name="Info", role="6")
    midwife = Practitioner(hpr=HPRS[1], given_name="Arna", family_name="Berg", role="99", role_name="Jordmor")
    office = OfficeState(her_id=1, roster={gp.hpr: gp, midwife.hpr: midwife})
    bookable = NOTHING_OFFERED.model_copy(
        update={
            "services": NOTHING_OFFERED.services.model_copy(
                update={"TIMEBESTILLING": BookingView(status=Status.AVAILABLE, info_visible=True)}
            )
        }
    )
    listed = booking.booking_list(office, {gp.hpr: bookable, midwife.hpr: bookable})
    office = replaced(office, {"booking": listed, "booking_sequence": 1})
    assert [line.label for line in listed] == ["Astrid Info fastlege", "Arna Berg (jordmor)"]
    assert booking.relisted(office, {gp.hpr: bookable}) == listed
    assert booking.relisted(office, {}) == listed
    assert [line.label for line in booking.relisted(office, {gp.hpr: NOTHING_OFFERED})] == ["Arna Berg (jordmor)"]

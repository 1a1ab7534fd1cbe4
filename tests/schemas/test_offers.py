import datetime as dt

import pytest
from pydantic import ValidationError

from schemas import OfferKind, Period
from tests.factories import DAY, offer, session


def days(n: int) -> tuple:
    return tuple(session(DAY + dt.timedelta(days=i)) for i in range(n))


def test_a_term_time_placement_of_four_days_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"4 days in term time.*at most 3"):
        offer(kind=OfferKind.WORKPLACE_L2, sessions=days(4))


def test_a_holiday_placement_may_last_five_days_but_not_six() -> None:
    assert offer(kind=OfferKind.WORKPLACE_L3, period=Period.HOLIDAY, sessions=days(5))
    with pytest.raises(ValidationError, match=r"6 days in holiday time"):
        offer(kind=OfferKind.WORKPLACE_L3, period=Period.HOLIDAY, sessions=days(6))


def test_a_session_over_eight_hours_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"lasts 9 h; .* at most 8 h a day"):
        offer(sessions=(session(start="09:00", end="18:00"),))


def test_a_session_ending_after_eight_pm_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"ends at 20:30; it must end by 20:00"):
        offer(sessions=(session(start="16:00", end="20:30"),))


def test_a_session_ending_at_eight_pm_is_accepted() -> None:
    assert offer(sessions=(session(start="16:00", end="20:00"),))


def test_two_sessions_on_one_date_are_rejected() -> None:
    with pytest.raises(ValidationError, match="share a date"):
        offer(sessions=(session(), session(start="14:00", end="16:00")))


def test_a_session_that_ends_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValidationError, match="before it starts"):
        offer(sessions=(session(start="12:00", end="10:00"),))


def test_an_unknown_elective_in_prerequisites_is_rejected_by_name() -> None:
    with pytest.raises(ValidationError, match="astrology"):
        offer(prerequisites={"required_subjects": frozenset({"astrology"})})


def test_the_day_limit_applies_to_workplace_offers_only() -> None:
    assert offer(kind=OfferKind.FE_INTERACTION, sessions=days(4))


def test_insurance_that_ends_before_it_starts_is_rejected() -> None:
    from schemas import Insurance

    with pytest.raises(ValidationError, match="cover ends 2027-01-01, before it starts 2027-02-01"):
        Insurance(
            insurer="HK Mutual",
            policy_number="P-1",
            valid_from=dt.date(2027, 2, 1),
            expires=dt.date(2027, 1, 1),
        )

"""Students, offers and preferences: the records careers teams and providers submit.

Offers are checked against Hong Kong work-experience practice when they are built:
a placement lasts at most 3 days in term time or 5 in holidays, at most 8 hours a day,
and ends no later than 20:00.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from pydantic import AfterValidator, Field, field_serializer, field_validator, model_validator

from schemas.common import ELECTIVES, District, Form, Frozen, Id, OfferKind, Period, Sector

MAX_DAYS = {Period.TERM: 3, Period.HOLIDAY: 5}
MAX_HOURS_PER_DAY = 8.0
LATEST_END = dt.time(20, 0)

Hours = Annotated[float, Field(ge=0, le=MAX_HOURS_PER_DAY)]  # spent at a placement in a day


def _each_once(ranked: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(ranked)) == len(ranked):  # the usual case, checked in C: a round reads 10,000
        return ranked
    seen: set[str] = set()
    for offer_id in ranked:
        if offer_id in seen:
            raise ValueError(f"offer {offer_id} is ranked twice")
        seen.add(offer_id)
    return ranked


RankedOffers = Annotated[tuple[Id, ...], AfterValidator(_each_once)]  # best first, each once


def _check_electives(values: frozenset[str]) -> frozenset[str]:
    unknown = sorted(values - set(ELECTIVES))
    if unknown:
        raise ValueError(f"unknown HKDSE elective(s) {unknown}; known: {', '.join(ELECTIVES)}")
    return values


def _sorted(values: frozenset[str]) -> list[str]:
    """A set's iteration order changes with PYTHONHASHSEED: sort it so JSON is reproducible."""
    return sorted(values)


class AttendedEncounter(Frozen):
    """An encounter the student already had before this round (it counts towards the benchmarks)."""

    kind: OfferKind
    date: dt.date
    debriefed: bool = False


class Student(Frozen):
    student_id: Id
    school_id: Id
    form: Form
    date_of_birth: dt.date
    subjects: frozenset[str] = frozenset()
    interests: tuple[Sector, ...] = ()
    academic_band: Annotated[int, Field(ge=1, le=3)] | None = None  # 1 is the strongest band
    parental_consent: bool = False
    priority: bool = False  # e.g. SEN or low-income: their placements weigh more
    attended: tuple[AttendedEncounter, ...] = ()
    name: str | None = None

    _v_subjects = field_validator("subjects")(_check_electives)
    _s_subjects = field_serializer("subjects", when_used="json")(_sorted)

    def age_on(self, day: dt.date) -> int:
        years = day.year - self.date_of_birth.year
        if (day.month, day.day) < (self.date_of_birth.month, self.date_of_birth.day):
            years -= 1
        return years

    def has_attended(self, *kinds: OfferKind) -> bool:
        return any(e.kind in kinds for e in self.attended)


class Session(Frozen):
    """One day of an offer: a student allocated to the offer attends every session."""

    date: dt.date
    start: dt.time
    end: dt.time

    @field_validator("start", "end")
    @classmethod
    def _local_time(cls, value: dt.time) -> dt.time:
        # Sessions are Hong Kong wall-clock times; an offset would make them incomparable.
        if value.tzinfo is not None:
            raise ValueError("give the local time without a UTC offset, e.g. 09:30")
        return value

    @model_validator(mode="after")
    def _check_hours(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"session on {self.date} ends ({self.end}) before it starts")
        if self.hours > MAX_HOURS_PER_DAY:
            raise ValueError(
                f"session on {self.date} lasts {self.hours:g} h; work experience is at most "
                f"{MAX_HOURS_PER_DAY:g} h a day"
            )
        if self.end > LATEST_END:
            raise ValueError(
                f"session on {self.date} ends at {self.end:%H:%M}; "
                f"it must end by {LATEST_END:%H:%M}"
            )
        return self

    @property
    def hours(self) -> float:
        start = dt.datetime.combine(self.date, self.start)
        return (dt.datetime.combine(self.date, self.end) - start).total_seconds() / 3600

    def overlaps(self, other: Session) -> bool:
        return self.date == other.date and self.start < other.end and other.start < self.end


class Insurance(Frozen):
    insurer: str = Field(min_length=1)
    policy_number: str = Field(min_length=1)
    valid_from: dt.date
    expires: dt.date

    @model_validator(mode="after")
    def _check_dates(self) -> Self:
        if self.expires < self.valid_from:
            raise ValueError(
                f"expires: cover ends {self.expires}, before it starts {self.valid_from}"
            )
        return self

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.expires


class Prerequisites(Frozen):
    required_subjects: frozenset[str] = frozenset()  # the student must take all of them
    min_form: Form | None = None
    min_age: Annotated[int, Field(ge=10, le=25)] | None = None  # on the first session date
    max_band: Annotated[int, Field(ge=1, le=3)] | None = None  # band 1 is strongest

    _v_subjects = field_validator("required_subjects")(_check_electives)
    _s_subjects = field_serializer("required_subjects", when_used="json")(_sorted)


class Offer(Frozen):
    offer_id: Id
    provider_id: Id
    provider_name: str = Field(min_length=1)
    title: str = Field(min_length=1)
    kind: OfferKind
    sector: Sector
    district: District
    period: Period
    sessions: tuple[Session, ...] = Field(min_length=1)
    capacity: Annotated[int, Field(ge=1, le=10_000)]
    prerequisites: Prerequisites = Prerequisites()
    requires_interview: bool = False
    insurance: Insurance | None = None
    teacher_previsit_done: bool = False
    accompanying_teachers: Annotated[int, Field(ge=0, le=50)] = 0

    @model_validator(mode="after")
    def _check_work_experience_rules(self) -> Self:
        dates = [s.date for s in self.sessions]
        if len(set(dates)) != len(dates):
            raise ValueError("sessions: two sessions share a date; give one session per day")
        if self.kind.is_workplace and len(dates) > MAX_DAYS[self.period]:
            raise ValueError(
                f"sessions: {len(dates)} days in {self.period.value} time; a work-experience "
                f"placement lasts at most {MAX_DAYS[self.period]} days then"
            )
        return self

    @property
    def first_day(self) -> dt.date:
        return min(s.date for s in self.sessions)

    @property
    def last_day(self) -> dt.date:
        return max(s.date for s in self.sessions)

    def clashes_with(self, other: Offer) -> bool:
        return any(a.overlaps(b) for a in self.sessions for b in other.sessions)


class PreferenceList(Frozen):
    """A student's offers, best first."""

    student_id: Id
    ranked: RankedOffers = ()
    submitted_at: dt.datetime | None = None

"""One valid event of every type, with distinct ids, for routing and round-trip tests."""

from __future__ import annotations

import datetime as dt

from schemas import Allocation, Form, LevelGroup, OfferKind, RiskCode
from schemas.events import (
    AllocationMade,
    AllocationProposed,
    AllocationRevoked,
    AttendanceRecorded,
    CoverageAlert,
    CoverageUpdated,
    DeadLettered,
    Envelope,
    HostAgainAnswered,
    InterviewDecided,
    OfferSubmitted,
    OfferWithdrawn,
    OverrideRemoved,
    PairForbidden,
    PairPinned,
    PreferencesRanked,
    ReflectionSubmitted,
    RiskCleared,
    RiskFlagged,
    RoundCompleted,
    RoundRequested,
    StudentRegistered,
)
from tests import factories


def one_of_each() -> list[Envelope]:
    """Every event type, paired with the key the catalogue says it carries (see `KEYS`)."""
    return [
        StudentRegistered(student=factories.student("s1")),
        OfferSubmitted(offer=factories.offer("o1")),
        OfferWithdrawn(offer_id="o2", reason="venue closed"),
        PreferencesRanked(preferences=factories.prefs("s2", "o1")),
        AttendanceRecorded(
            student_id="s3", offer_id="o1", date=dt.date(2027, 3, 1), attended=True, hours=3
        ),
        RoundRequested(round_id="r1"),
        AllocationMade(
            round_id="r1",
            allocation=Allocation(
                student_id="s4",
                offer_id="o1",
                kind=OfferKind.WORKPLACE_L1,
                group=LevelGroup.B8_L1,
            ),
        ),
        AllocationRevoked(round_id="r1", student_id="s5", offer_id="o1", reason="no-show"),
        RiskFlagged(offer_id="o3", code=RiskCode.INSURANCE_MISSING, detail="no policy"),
        RiskCleared(student_id="s6", offer_id="o4", code=RiskCode.NO_CONSENT),
        CoverageUpdated(
            school_id="sch1",
            form=Form.S5,
            students=100,
            b8_projected=80,
            b8_achieved=20,
            target_pct=90,
            fe_visits=3,
            fe_interactions=1,
            below_target=True,
        ),
        RoundCompleted(round_id="r2", mode="preview", status="done", made=3),
        AllocationProposed(
            round_id="r2",
            allocation=Allocation(
                student_id="s7",
                offer_id="o1",
                kind=OfferKind.WORKPLACE_L1,
                group=LevelGroup.B8_L1,
            ),
        ),
        CoverageAlert(
            school_id="sch2",
            students=10,
            b8_projected=5,
            projected_pct=50,
            target_pct=90,
            shortfall=4,
            detail="4 more students need the pair",
        ),
        DeadLettered(
            topic="students",
            key="s8",
            reason="student.form: Input should be 'S4', 'S5' or 'S6'",
            original='{"bad": 1}',
            original_base64="eyJiYWQiOiAxfQ==",
        ),
        PairPinned(student_id="s9", offer_id="o1"),
        PairForbidden(student_id="s10", offer_id="o2"),
        OverrideRemoved(student_id="s11", offer_id="o1"),
        InterviewDecided(student_id="s12", offer_id="o1", outcome="declined", note="no show"),
        ReflectionSubmitted(student_id="s13", offer_id="o1", text="I learnt to take a history."),
        HostAgainAnswered(offer_id="o5", would_host_again=True, comment="keen students"),
    ]


# (topic, key) of each event of `one_of_each()`, in order, written out by hand from the catalogue.
KEYS = [
    ("students", "s1"),
    ("offers", "o1"),
    ("offers", "o2"),
    ("preferences", "s2"),
    ("attendance", "s3"),
    ("rounds", "r1"),
    ("allocations", "s4"),
    ("allocations", "s5"),
    ("risks", "o3"),
    ("risks", "o4"),
    ("coverage", "sch1"),
    ("rounds", "r2"),
    ("allocations", "s7"),
    ("coverage", "sch2"),
    ("dead-letter", "s8"),
    ("preferences", "s9"),
    ("preferences", "s10"),
    ("preferences", "s11"),
    ("attendance", "s12"),
    ("attendance", "s13"),
    ("offers", "o5"),
]


def registrations(count: int, school: str = "sch1") -> list[Envelope]:
    return [
        StudentRegistered(student=factories.student(f"s{i:03d}", school_id=school))
        for i in range(count)
    ]

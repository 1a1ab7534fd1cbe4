"""Factories for small, valid records: override only what a test is about."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from schemas import (
    District,
    Form,
    Instance,
    Insurance,
    Metrics,
    Offer,
    OfferKind,
    Period,
    PreferenceList,
    RoundRules,
    Sector,
    Session,
    Student,
    StudentOffer,
)

DAY = dt.date(2027, 3, 1)  # a Monday in term time
KINDS = tuple(OfferKind)


def student(student_id: str = "s1", **kw: Any) -> Student:
    fields: dict[str, Any] = {
        "student_id": student_id,
        "school_id": "sch1",
        "form": Form.S5,
        "date_of_birth": dt.date(2010, 1, 1),
        "subjects": frozenset({"biology", "chemistry"}),
        "interests": (Sector.HEALTHCARE,),
        "academic_band": 2,
        "parental_consent": True,
    }
    fields.update(kw)
    return Student(**fields)


def session(day: dt.date = DAY, start: str = "09:30", end: str = "12:30") -> Session:
    return Session(date=day, start=dt.time.fromisoformat(start), end=dt.time.fromisoformat(end))


def offer(offer_id: str = "o1", kind: OfferKind = OfferKind.WORKPLACE_L1, **kw: Any) -> Offer:
    fields: dict[str, Any] = {
        "offer_id": offer_id,
        "provider_id": "p1",
        "provider_name": "Harbour Health Ltd",
        "title": f"{kind.value} {offer_id}",
        "kind": kind,
        "sector": Sector.HEALTHCARE,
        "district": District.SHA_TIN,
        "period": Period.TERM,
        "sessions": (session(),),
        "capacity": 1,
    }
    if kind.needs_insurance:
        fields["insurance"] = Insurance(
            insurer="HK Mutual",
            policy_number=f"P-{offer_id}",
            valid_from=dt.date(2026, 9, 1),
            expires=dt.date(2027, 8, 31),
        )
    fields.update(kw)
    return Offer(**fields)


def metrics(**kw: Any) -> Metrics:
    """A small round's metrics, proven optimal unless `kw` says otherwise."""
    fields: dict[str, Any] = {
        "students": 3,
        "offers": 3,
        "placements": 2,
        "matched_students": 2,
        "b8_completed": 0,
        "b8_coverage_pct": 0.0,
        "lowest_school_coverage_pct": 0.0,
        "schools": (),
        "rank_distribution": {"1": 2, "unranked": 0},
        "first_choice_share": 1.0,
        "mean_rank": 1.0,
        "risk_flags": 0,
        "objective": (2, -2),
        "bound": (2, -2),
        "proven_optimal": True,
        "method": "flow",
        "solve_seconds": 0.01,
    }
    fields.update(kw)
    return Metrics(**fields)


def prefs(student_id: str, *offer_ids: str) -> PreferenceList:
    return PreferenceList(student_id=student_id, ranked=tuple(offer_ids))


def instance(
    students: list[Student],
    offers: list[Offer],
    preferences: list[PreferenceList] = (),  # type: ignore[assignment]
    pinned: list[tuple[str, str]] = (),  # type: ignore[assignment]
    forbidden: list[tuple[str, str]] = (),  # type: ignore[assignment]
    **rules: Any,
) -> Instance:
    return Instance(
        students=tuple(students),
        offers=tuple(offers),
        preferences=tuple(preferences),
        pinned=tuple(StudentOffer(student_id=s, offer_id=o) for s, o in pinned),
        forbidden=tuple(StudentOffer(student_id=s, offer_id=o) for s, o in forbidden),
        rules=RoundRules(**rules),
    )


def random_instance(seed: int, n_students: int = 12, n_offers: int = 8) -> Instance:
    """A small, dense, contested instance: clashes, prerequisites, pins and forbidden pairs."""
    rng = random.Random(seed)
    schools = ["a", "b", "c"]
    students_ = [
        student(
            f"s{i}",
            school_id=rng.choice(schools),
            form=rng.choice(list(Form)),
            subjects=frozenset(rng.sample(["biology", "chemistry", "physics", "ict"], 2)),
            interests=(rng.choice(list(Sector)[:3]),),
            parental_consent=rng.random() < 0.9,
            priority=rng.random() < 0.15,
            attended=(),
        )
        for i in range(n_students)
    ]
    offers_ = []
    for j in range(n_offers):
        kind = rng.choice(KINDS)
        day = DAY + dt.timedelta(days=rng.randrange(3))
        start = rng.choice(["09:00", "13:00"])
        end = "12:00" if start == "09:00" else "17:00"
        prereq: dict[str, Any] = {}
        if rng.random() < 0.2:
            prereq = {"required_subjects": frozenset({rng.choice(["physics", "ict"])})}
        offers_.append(
            offer(
                f"o{j}",
                kind,
                sector=rng.choice(list(Sector)[:3]),
                capacity=rng.randint(1, 3),
                sessions=(session(day, start, end),),
                prerequisites=prereq or {},
                teacher_previsit_done=rng.random() < 0.7,
            )
        )
    preferences = []
    for st in students_:
        if rng.random() < 0.1:
            continue
        k = rng.randint(1, min(6, n_offers))
        preferences.append(prefs(st.student_id, *rng.sample([o.offer_id for o in offers_], k)))
    return instance(students_, offers_, preferences, max_ranks=6)

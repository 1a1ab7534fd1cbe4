"""What the dashboard shows, computed from one read of the system of record.

Each function takes a unit of work (read-only) and returns a pydantic view the JSON routes
serve as they are; the pages draw them. Nothing here writes.

- `coverage_view`: Benchmark 8/9 per form, and how the school's projected coverage filled over
  time (from the `created_at` of the allocations in force and the `recorded_at` of attendance:
  revoked allocations are not replayed, so the curve is how today's coverage was built up);
- `uncovered_students`: students without the Benchmark 8 pair, what they lack and why;
- `offers_view`: fill rate, demand (times ranked), oversubscribed and unfilled offers, risk flags;
- `round_summary`: a round's record and, for a committed round, its students left without a
  placement, with the reasons the dashboard can tell.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from typing import Literal

from pydantic import BaseModel

from matching.eligibility import RULES
from schemas import Form, LevelGroup, OfferKind, PreferenceList, Student
from services.api.models import CoverageOut
from services.persistence import (
    AbstractUnitOfWork,
    OfferRecord,
    RiskStatus,
    RoundRecord,
)
from services.worker.downstream import coverage_rows
from services.worker.risks import IN_FORCE
from services.worker.rounds import latest_rules

B8_GROUPS = (LevelGroup.B8_L1, LevelGroup.B8_L23)
GROUP_LABEL = {
    LevelGroup.B8_L1: "L1",
    LevelGroup.B8_L23: "L2/L3",
    LevelGroup.FE_VISIT: "further-education visit",
    LevelGroup.FE_INTERACTION: "further-education interaction",
}
# Why a student may not take an offer, by the eligibility rule that refuses it.
RULE_LABEL = {
    "subjects": "a required subject they do not take",
    "form": "a higher form",
    "age": "a minimum age",
    "band": "a stronger academic band",
    "consent": "parental consent, which they have not given",
    "insurance": "insurance cover the offer lacks",
}
MAX_FILL_POINTS = 240  # enough for a smooth line; a larger series is thinned evenly
MAX_LISTED = 500  # students listed in a drill-down; the total is always given


class FillPoint(BaseModel):
    at: dt.datetime
    projected: int
    pct: float


class CoverageView(BaseModel):
    school_id: str
    target_pct: float
    students: int
    b8_projected: int
    b8_achieved: int
    projected_pct: float
    achieved_pct: float
    fe_visits: int
    fe_interactions: int
    forms: list[CoverageOut]
    fill: list[FillPoint]


class UncoveredStudent(BaseModel):
    student_id: str
    name: str | None
    form: Form
    missing: list[str]  # "L1", "L2/L3"
    reasons: list[str]


class UncoveredView(BaseModel):
    school_id: str
    total: int
    students: list[UncoveredStudent]


OfferState = Literal["oversubscribed", "unfilled", "partly filled", "full", "withdrawn"]


class OfferStat(BaseModel):
    offer_id: str
    title: str
    provider_id: str
    provider_name: str
    kind: OfferKind
    first_day: dt.date
    capacity: int
    placed: int
    fill_pct: float
    ranked_by: int
    first_choices: int
    state: OfferState
    risks: list[str]


class OffersView(BaseModel):
    capacity: int
    placed: int
    fill_pct: float
    oversubscribed: int
    unfilled: int
    with_risks: int
    offers: list[OfferStat]


class UnmatchedStudent(BaseModel):
    student_id: str
    name: str | None
    form: Form
    reasons: list[str]


class RoundSummary(BaseModel):
    round: RoundRecord
    placements: int  # allocations of this round still in force (commit rounds)
    unmatched_total: int
    unmatched: list[UnmatchedStudent]


# -- coverage ------------------------------------------------------------------------------


def coverage_view(uow: AbstractUnitOfWork, school_id: str, today: dt.date) -> CoverageView:
    rows = coverage_rows(uow, [school_id], today)
    students = sum(r.students for r in rows)
    projected = sum(r.b8_projected for r in rows)
    achieved = sum(r.b8_achieved for r in rows)
    target = rows[0].target_pct if rows else latest_rules(uow).target_for(school_id)
    forms = [CoverageOut.from_row(r) for r in rows]
    return CoverageView(
        school_id=school_id,
        target_pct=target,
        students=students,
        b8_projected=projected,
        b8_achieved=achieved,
        projected_pct=_pct(projected, students),
        achieved_pct=_pct(achieved, students),
        fe_visits=sum(r.fe_visits for r in rows),
        fe_interactions=sum(r.fe_interactions for r in rows),
        forms=forms,
        fill=_fill(uow, school_id, students),
    )


def _fill(uow: AbstractUnitOfWork, school_id: str, students: int) -> list[FillPoint]:
    """Students holding the Benchmark 8 pair after each moment something was placed."""
    kinds = {r.offer.offer_id: r.offer.kind for r in uow.offers.records()}
    stamped: list[tuple[dt.datetime, str, LevelGroup]] = [
        (a.created_at, a.allocation.student_id, a.allocation.group)
        for a in uow.allocations.find(statuses=IN_FORCE, school_ids=[school_id])
    ]
    stamped += [
        (row.recorded_at, row.student_id, kinds[row.offer_id].group)
        for row in uow.attendance.find(school_ids=[school_id], attended=True)
        if row.offer_id in kinds
    ]
    held: dict[str, set[LevelGroup]] = defaultdict(set)
    for student in uow.students.find([school_id]):
        held[student.student_id] |= {e.kind.group for e in student.attended}
    pairs = sum(1 for groups in held.values() if groups.issuperset(B8_GROUPS))
    if not stamped:
        return []
    stamped.sort(key=lambda item: (_aware(item[0]), item[1]))
    points = [FillPoint(at=_aware(stamped[0][0]), projected=pairs, pct=_pct(pairs, students))]
    for at, student_id, group in stamped:
        groups = held[student_id]
        had = groups.issuperset(B8_GROUPS)
        groups.add(group)
        if not had and groups.issuperset(B8_GROUPS):
            pairs += 1
            point = FillPoint(at=_aware(at), projected=pairs, pct=_pct(pairs, students))
            if points[-1].at == point.at:
                points[-1] = point
            else:
                points.append(point)
    return _thin(points)


def _thin(points: list[FillPoint]) -> list[FillPoint]:
    if len(points) <= MAX_FILL_POINTS:
        return points
    step = len(points) / (MAX_FILL_POINTS - 1)
    kept = [points[int(i * step)] for i in range(MAX_FILL_POINTS - 1)]
    return [*kept, points[-1]]


def uncovered_students(uow: AbstractUnitOfWork, school_id: str) -> UncoveredView:
    world = _World.read(uow, [school_id])
    out = []
    for student in world.students:
        groups = world.groups[student.student_id]
        missing = [g for g in B8_GROUPS if g not in groups]
        if not missing:
            continue
        out.append(
            UncoveredStudent(
                student_id=student.student_id,
                name=student.name,
                form=student.form,
                missing=[GROUP_LABEL[g] for g in missing],
                reasons=[world.why_not(student, g) for g in missing],
            )
        )
    return UncoveredView(school_id=school_id, total=len(out), students=out[:MAX_LISTED])


# -- offers --------------------------------------------------------------------------------


def offers_view(uow: AbstractUnitOfWork, provider_id: str | None = None) -> OffersView:
    """Every offer (of one provider, if given); withdrawn ones only for their provider."""
    records = [
        r
        for r in uow.offers.records(include_withdrawn=provider_id is not None)
        if provider_id is None or r.offer.provider_id == provider_id
    ]
    placed = Counter(a.allocation.offer_id for a in uow.allocations.find(statuses=IN_FORCE))
    ranked_by: Counter[str] = Counter()
    first: Counter[str] = Counter()
    for prefs in uow.preferences.find(None):
        ranked_by.update(prefs.ranked)
        if prefs.ranked:
            first[prefs.ranked[0]] += 1
    risks: dict[str, Counter[str]] = defaultdict(Counter)
    for flag in uow.risks.find(status=RiskStatus.FLAGGED):
        risks[flag.offer_id][flag.code.value] += 1
    stats = [_offer_stat(r, placed, ranked_by, first, risks) for r in records]
    open_stats = [s for s in stats if s.state != "withdrawn"]
    capacity = sum(s.capacity for s in open_stats)
    taken = sum(min(s.placed, s.capacity) for s in open_stats)
    return OffersView(
        capacity=capacity,
        placed=taken,
        fill_pct=_pct(taken, capacity),
        oversubscribed=sum(1 for s in open_stats if s.state == "oversubscribed"),
        unfilled=sum(1 for s in open_stats if s.state == "unfilled"),
        with_risks=sum(1 for s in open_stats if s.risks),
        offers=stats,
    )


def _offer_stat(
    record: OfferRecord,
    placed: Counter[str],
    ranked_by: Counter[str],
    first: Counter[str],
    risks: dict[str, Counter[str]],
) -> OfferStat:
    offer = record.offer
    n = placed[offer.offer_id]
    state: OfferState
    if record.withdrawn:
        state = "withdrawn"
    elif ranked_by[offer.offer_id] > offer.capacity:
        state = "oversubscribed"  # more students want it than it has places
    elif n == 0:
        state = "unfilled"
    elif n < offer.capacity:
        state = "partly filled"
    else:
        state = "full"
    return OfferStat(
        offer_id=offer.offer_id,
        title=offer.title,
        provider_id=offer.provider_id,
        provider_name=offer.provider_name,
        kind=offer.kind,
        first_day=offer.first_day,
        capacity=offer.capacity,
        placed=n,
        fill_pct=_pct(min(n, offer.capacity), offer.capacity),
        ranked_by=ranked_by[offer.offer_id],
        first_choices=first[offer.offer_id],
        state=state,
        risks=[
            f"{code} ({count})" if count > 1 else code
            for code, count in sorted(risks[offer.offer_id].items())
        ],
    )


# -- rounds --------------------------------------------------------------------------------


def round_summary(uow: AbstractUnitOfWork, record: RoundRecord) -> RoundSummary:
    """The round and, once a committed round is done, its students with no placement from it."""
    mine = uow.allocations.find(round_id=record.round_id, statuses=IN_FORCE)
    if record.mode != "commit" or not record.status.finished:
        return RoundSummary(round=record, placements=len(mine), unmatched_total=0, unmatched=[])
    schools: list[str] | None = list(record.school_ids) or None
    if record.scope == "students":
        found = uow.students.get_many(record.student_ids)
        schools = sorted({s.school_id for s in found.values()})
    world = _World.read(uow, schools)
    placed = world.holding  # this round's placements and those it kept unchanged
    in_scope = set(record.student_ids) if record.scope == "students" else None
    unmatched = [
        UnmatchedStudent(
            student_id=s.student_id,
            name=s.name,
            form=s.form,
            reasons=[world.why_not(s, g) for g in B8_GROUPS if g not in world.groups[s.student_id]]
            or ["holds the Benchmark 8 pair from attended encounters"],
        )
        for s in world.students
        if s.student_id not in placed and (in_scope is None or s.student_id in in_scope)
    ]
    return RoundSummary(
        round=record,
        placements=len(mine),
        unmatched_total=len(unmatched),
        unmatched=unmatched[:MAX_LISTED],
    )


def rounds_of_school(uow: AbstractUnitOfWork, school_id: str) -> list[RoundRecord]:
    """The school's own rounds (those its careers team may open), newest first."""
    return [
        r
        for r in reversed(uow.rounds.find())
        if r.scope in ("school", "cluster") and set(r.school_ids) == {school_id}
    ]


# -- why a student is not covered ------------------------------------------------------------


class _World:
    """Students, open offers, rankings and places: enough to say why a group is missing."""

    def __init__(
        self,
        students: list[Student],
        offers: list[OfferRecord],
        preferences: dict[str, PreferenceList],
        placed: Counter[str],
        groups: dict[str, set[LevelGroup]],
        holding: set[str],
    ) -> None:
        self.students = students
        self.offers = offers
        self.preferences = preferences
        self.placed = placed
        self.groups = groups
        self.holding = holding  # students with an allocation in force

    @classmethod
    def read(cls, uow: AbstractUnitOfWork, schools: Collection[str] | None) -> _World:
        students = uow.students.find(schools)
        offers = uow.offers.records(include_withdrawn=False)
        kinds = {r.offer.offer_id: r.offer.kind for r in offers}
        groups: dict[str, set[LevelGroup]] = defaultdict(set)
        for s in students:
            groups[s.student_id] |= {e.kind.group for e in s.attended}
        holding: set[str] = set()
        for a in uow.allocations.find(statuses=IN_FORCE, school_ids=schools):
            groups[a.allocation.student_id].add(a.allocation.group)
            holding.add(a.allocation.student_id)
        for row in uow.attendance.find(school_ids=schools, attended=True):
            if row.offer_id in kinds:
                groups[row.student_id].add(kinds[row.offer_id].group)
        placed = Counter(a.allocation.offer_id for a in uow.allocations.find(statuses=IN_FORCE))
        preferences = {p.student_id: p for p in uow.preferences.find(schools)}
        return cls(students, offers, preferences, placed, groups, holding)

    def why_not(self, student: Student, group: LevelGroup) -> str:
        label = GROUP_LABEL[group]
        of_group = [r.offer for r in self.offers if r.offer.kind.group == group]
        if not of_group:
            return f"no {label} offer is open"
        refused: Counter[str] = Counter()
        eligible = []
        for offer in of_group:
            failing = [rule.__name__ for rule in RULES if rule(student, offer) is not None]
            if failing:
                refused.update(failing)
            else:
                eligible.append(offer)
        if not eligible:
            top = ", ".join(RULE_LABEL.get(name, name) for name, _ in refused.most_common(2))
            return (
                f"{label}: none of the {len(of_group)} open offers is open to them "
                f"(they need {top})"
            )
        listed = self.preferences.get(student.student_id)
        ranked = set(listed.ranked) if listed is not None else set()
        chosen = [o for o in eligible if o.offer_id in ranked]
        if not chosen:
            liked = sum(1 for o in eligible if o.sector in student.interests)
            return f"{label}: ranked none of the {len(eligible)} offers open to them" + (
                f" ({liked} in their interests)" if liked else "; none is in their interests"
            )
        full = [o for o in chosen if self.placed[o.offer_id] >= o.capacity]
        if len(full) == len(chosen):
            return f"{label}: every offer they ranked is full ({_ids(o.offer_id for o in full)})"
        return f"{label}: places are free in offers they ranked; not placed yet (run a round)"


def _ids(ids: Iterable[str], limit: int = 3) -> str:
    listed = list(ids)
    more = len(listed) - limit
    return ", ".join(listed[:limit]) + (f" and {more} more" if more > 0 else "")


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they are UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)

"""The indexed problem every method works on: students, offers and candidate arcs.

`build_problem` applies the hard constraints that concern a single (student, offer) pair
(eligibility, forbidden pairs, pins, clashes with pins), so a candidate arc is a pair that
could be allocated. What remains for the methods is capacity, one allocation per student per
level group, clashes between two candidate arcs, and the objective.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

import numpy as np
import numpy.typing as npt

from matching.eligibility import NEEDS_CONSENT, Ineligibility, ineligibility, insurance_problem
from matching.errors import Infeasible, InvalidInstance
from schemas import Instance, LevelGroup, Offer, OfferKind, ReasonCode, Student
from schemas.common import ELECTIVES

GROUPS: tuple[LevelGroup, ...] = tuple(LevelGroup)
L1, L23, FE_VISIT, FE_INTERACTION = range(4)
UNRANKED = 0  # arc_rank value for an interest-matched offer of a student who ranked nothing
INTEREST_CANDIDATES_PER_GROUP = 5

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")
BoolArray = npt.NDArray[np.bool_]


@dataclass
class Problem:
    instance: Instance
    students: tuple[Student, ...]
    offers: tuple[Offer, ...]
    student_index: dict[str, int]
    offer_index: dict[str, int]
    offer_group: IntArray
    capacity: IntArray  # left after pins
    arc_student: IntArray
    arc_offer: IntArray
    arc_group: IntArray
    arc_rank: IntArray  # 1-based rank, UNRANKED for an interest match
    arc_cost: IntArray  # rank cost from the round rules
    has_l1: BoolArray  # attended an L1 before, or pinned to one in this round
    has_l23: BoolArray
    group_filled: npt.NDArray[np.bool_]  # [student, group]: a pin fills the group
    below_target: BoolArray  # the student's school starts the round below its target
    weight: IntArray  # placement weight: rules.priority_weight for priority students, else 1
    pinned: list[tuple[int, int]]
    ranked: dict[int, dict[int, int]]  # student -> offer -> rank, for every ranked offer
    rejected: dict[tuple[int, int], tuple[ReasonCode, str]]  # ranked pairs that are no arc
    _clash_cache: dict[tuple[int, int], bool] = field(default_factory=dict)
    memo: dict[str, object] = field(default_factory=dict)  # derived once: see `cached`

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """`build()`, computed once per problem and kept in `memo` under `key`: what the
        methods derive from the problem alone (weights, masks, indexes) and ask for often."""
        if key not in self.memo:
            self.memo[key] = build()
        return cast(T, self.memo[key])

    @property
    def n_students(self) -> int:
        return len(self.students)

    @property
    def n_arcs(self) -> int:
        return len(self.arc_student)

    def arcs_of(self, s: int) -> range:
        """Candidate arcs of student s: build_problem emits them in student order."""
        lo = int(np.searchsorted(self.arc_student, s, side="left"))
        hi = int(np.searchsorted(self.arc_student, s, side="right"))
        return range(lo, hi)

    def clash(self, a: int, b: int) -> bool:
        """Do offers a and b have overlapping sessions? Cached: popular pairs repeat."""
        key = (a, b) if a < b else (b, a)
        hit = self._clash_cache.get(key)
        if hit is None:
            hit = self.offers[a].clashes_with(self.offers[b])
            self._clash_cache[key] = hit
        return hit

    def clash_pairs(self) -> list[tuple[int, int]]:
        """Pairs of candidate arcs of one student, in different groups, that clash."""
        by_student: dict[int, list[int]] = {}
        for arc, s in enumerate(self.arc_student.tolist()):
            by_student.setdefault(s, []).append(arc)
        group = self.arc_group.tolist()
        offer = self.arc_offer.tolist()
        pairs = []
        for arcs in by_student.values():
            for i, a in enumerate(arcs):
                for b in arcs[i + 1 :]:
                    if group[a] != group[b] and self.clash(offer[a], offer[b]):
                        pairs.append((a, b))
        return pairs


Progress = Callable[[str, float], None]


def _noop(stage: str, fraction: float) -> None:
    return None


def build_problem(instance: Instance, seed: int = 0, progress: Progress = _noop) -> Problem:
    students = instance.students
    offers = instance.offers
    rules = instance.rules
    s_index = {s.student_id: i for i, s in enumerate(students)}
    o_index = {o.offer_id: i for i, o in enumerate(offers)}
    group_of = {g: i for i, g in enumerate(GROUPS)}
    offer_group = np.array([group_of[o.kind.group] for o in offers], dtype=np.int64)
    capacity = np.array([o.capacity for o in offers], dtype=np.int64)
    n = len(students)

    has_l1 = np.array([st.has_attended(OfferKind.WORKPLACE_L1) for st in students], dtype=np.bool_)
    has_l23 = np.array(
        [st.has_attended(OfferKind.WORKPLACE_L2, OfferKind.WORKPLACE_L3) for st in students],
        dtype=np.bool_,
    )
    complete_before: dict[str, int] = {}
    size: dict[str, int] = {}
    for i, st in enumerate(students):
        size[st.school_id] = size.get(st.school_id, 0) + 1
        complete_before[st.school_id] = complete_before.get(st.school_id, 0) + int(
            has_l1[i] and has_l23[i]
        )
    below = {
        school: 100.0 * complete_before[school] / size[school] < rules.target_for(school)
        for school in size
    }
    below_target = np.array([below[st.school_id] for st in students], dtype=np.bool_)
    weight = np.array(
        [rules.priority_weight if st.priority else 1 for st in students], dtype=np.int64
    )

    ranked: dict[int, dict[int, int]] = {}
    for p in instance.preferences:
        if p.ranked:
            ranked[s_index[p.student_id]] = {o_index[o]: r for r, o in enumerate(p.ranked, 1)}

    forbidden = {(s_index[p.student_id], o_index[p.offer_id]) for p in instance.forbidden}
    group_filled = np.zeros((n, len(GROUPS)), dtype=np.bool_)
    pinned: list[tuple[int, int]] = []
    pins_of: dict[int, list[int]] = {}
    for pair in instance.pinned:
        s, o = s_index[pair.student_id], o_index[pair.offer_id]
        student, offer = students[s], offers[o]
        reasons = ineligibility(student, offer)
        if reasons:
            raise Infeasible(
                f"pinned: student {student.student_id} cannot take offer {offer.offer_id}: "
                f"{reasons[0]}; remove the pin or fix the record",
                record=student.student_id,
            )
        g = int(offer_group[o])
        if group_filled[s, g]:
            raise Infeasible(
                f"pinned: student {student.student_id} is pinned to two {GROUPS[g].value} "
                "offers; a student takes one per level group per round",
                record=student.student_id,
            )
        for other in pins_of.get(s, []):
            if offer.clashes_with(offers[other]):
                raise Infeasible(
                    f"pinned: student {student.student_id}'s offers {offers[other].offer_id} "
                    f"and {offer.offer_id} overlap in time",
                    record=student.student_id,
                )
        group_filled[s, g] = True
        capacity[o] -= 1
        if capacity[o] < 0:
            raise Infeasible(
                f"pinned: offer {offer.offer_id} has more pins than its {offer.capacity} places",
                record=offer.offer_id,
            )
        pins_of.setdefault(s, []).append(o)
        pinned.append((s, o))
        if g == L1:
            has_l1[s] = True
        elif g == L23:
            has_l23[s] = True

    # Per-offer facts that do not depend on the student, computed once.
    plain = [insurance_problem(o) is None and _no_prerequisites(o) for o in offers]
    by_sector_group: dict[tuple[str, int], list[int]] = {}
    for o, offer in enumerate(offers):
        by_sector_group.setdefault((offer.sector.value, int(offer_group[o])), []).append(o)

    a_s: list[int] = []
    a_o: list[int] = []
    a_r: list[int] = []

    rejected: dict[tuple[int, int], tuple[ReasonCode, str]] = {}
    reasons_against = Ineligibility()

    def consider(s: int, o: int, rank: int) -> bool:
        why = _why_not(s, o)
        if why is None:
            a_s.append(s)
            a_o.append(o)
            a_r.append(rank)
            return True
        if rank != UNRANKED:
            rejected[(s, o)] = why
        return False

    def _why_not(s: int, o: int) -> tuple[ReasonCode, str] | None:
        student, offer = students[s], offers[o]
        if (s, o) in forbidden:
            return ReasonCode.FORBIDDEN, f"the careers team excluded offer {offer.offer_id}"
        if plain[o]:
            if offer.kind != OfferKind.FE_INTERACTION and not student.parental_consent:
                return ReasonCode.INELIGIBLE, "; ".join(reasons_against(student, offer))
        elif problems := reasons_against(student, offer):
            return ReasonCode.INELIGIBLE, "; ".join(problems)
        if group_filled[s, offer_group[o]]:
            return ReasonCode.GROUP_TAKEN, "pinned to another offer in the same level group"
        for pin in pins_of.get(s, []):
            if offer.clashes_with(offers[pin]):
                other = offers[pin].offer_id
                return ReasonCode.CLASH, f"offer {offer.offer_id} overlaps pinned offer {other}"
        if capacity[o] <= 0:
            return ReasonCode.FULL, f"every place of offer {offer.offer_id} went to pinned students"
        return None

    # Ranked pairs: a vectorised test passes most of them at once; the rest go through the
    # rules one by one, which also gives the reason an explanation will quote.
    progress("eligibility", 0.0)
    r_s, r_o, r_r = _ranked_pairs(ranked)
    fast = _quick_eligible(students, offers, r_s, r_o) & (capacity[r_o] > 0)
    fast &= ~group_filled[r_s, offer_group[r_o]]
    if forbidden:
        keys = np.array([s * len(offers) + o for s, o in forbidden], dtype=np.int64)
        fast &= ~np.isin(r_s * len(offers) + r_o, keys)
    if pins_of:
        fast &= ~np.isin(r_s, np.array(list(pins_of), dtype=np.int64))
    a_s.extend(r_s[fast].tolist())
    a_o.extend(r_o[fast].tolist())
    a_r.extend(r_r[fast].tolist())
    slow = np.flatnonzero(~fast)
    for i, (s, o, r) in enumerate(
        zip(r_s[slow].tolist(), r_o[slow].tolist(), r_r[slow].tolist(), strict=True)
    ):
        if i % 10_000 == 0:
            progress("eligibility", 0.5 * i / max(len(slow), 1))
        consider(s, o, r)
    if rules.fill_unranked:
        for s, student in enumerate(students):
            if s not in ranked and student.interests:
                _interest_candidates(s, student, seed, offer_group, by_sector_group, consider)
    progress("eligibility", 1.0)
    order = np.argsort(np.array(a_s, dtype=np.int64), kind="stable")  # arcs grouped by student
    a_s = np.array(a_s, dtype=np.int64)[order].tolist()
    a_o = np.array(a_o, dtype=np.int64)[order].tolist()
    a_r = np.array(a_r, dtype=np.int64)[order].tolist()

    arc_student = np.array(a_s, dtype=np.int64)
    arc_offer = np.array(a_o, dtype=np.int64)
    arc_rank = np.array(a_r, dtype=np.int64)
    cost_table = np.array(
        [rules.rank_cost(None)] + [rules.rank_cost(r) for r in range(1, rules.max_ranks + 1)],
        dtype=np.int64,
    )
    if len(cost_table) and cost_table.min() < 0:  # defensive: schemas bound it already
        raise InvalidInstance("rules.rank_costs: costs must be non-negative")
    return Problem(
        instance=instance,
        students=students,
        offers=offers,
        student_index=s_index,
        offer_index=o_index,
        offer_group=offer_group,
        capacity=capacity,
        arc_student=arc_student,
        arc_offer=arc_offer,
        arc_group=offer_group[arc_offer] if len(arc_offer) else np.zeros(0, dtype=np.int64),
        arc_rank=arc_rank,
        arc_cost=cost_table[arc_rank] if len(arc_rank) else np.zeros(0, dtype=np.int64),
        has_l1=has_l1,
        has_l23=has_l23,
        group_filled=group_filled,
        below_target=below_target,
        weight=weight,
        pinned=pinned,
        ranked=ranked,
        rejected=rejected,
        memo={"ranked_pairs": (r_s, r_o, r_r)},
    )


def _interest_candidates(
    s: int,
    student: Student,
    seed: int,
    offer_group: IntArray,
    by_sector_group: dict[tuple[str, int], list[int]],
    consider: Callable[[int, int, int], bool],
) -> None:
    """A student who ranked nothing gets a few eligible offers in their interest sectors.

    The sample is drawn with a generator seeded by (round seed, student id), so it is the
    same on every run and every machine.
    """
    rng = random.Random(f"{seed}:{student.student_id}")
    sectors = dict.fromkeys(student.interests)
    for g in range(len(GROUPS)):
        # The pool is the sectors' offers one after another. It is never built: sampling
        # positions in a range draws the same positions as sampling the list itself.
        parts = [by_sector_group.get((sector.value, g), []) for sector in sectors]
        ends = list(itertools.accumulate(len(part) for part in parts))
        size = ends[-1] if ends else 0
        if not size:
            continue
        taken = 0
        for at in rng.sample(range(size), min(size, 4 * INTEREST_CANDIDATES_PER_GROUP)):
            i = bisect.bisect_right(ends, at)
            o = parts[i][at - (ends[i - 1] if i else 0)]
            if consider(s, o, UNRANKED):
                taken += 1
                if taken == INTEREST_CANDIDATES_PER_GROUP:
                    break


def _no_prerequisites(offer: Offer) -> bool:
    p = offer.prerequisites
    return (
        not p.required_subjects and p.min_form is None and p.min_age is None and p.max_band is None
    )


def ranked_pairs(problem: Problem) -> tuple[IntArray, IntArray, IntArray]:
    """(student, offer, rank) arrays of every ranked pair, by student, then rank: the ones
    `build_problem` made, kept in `Problem.memo`."""
    return problem.cached("ranked_pairs", lambda: _ranked_pairs(problem.ranked))


def _ranked_pairs(ranked: dict[int, dict[int, int]]) -> tuple[IntArray, IntArray, IntArray]:
    """(student, offer, rank) arrays of every ranked pair, by student, then rank (each
    student's offers are kept in rank order)."""
    order = sorted(ranked)
    lengths = np.array([len(ranked[s]) for s in order], dtype=np.int64)
    n = int(lengths.sum())
    chain = itertools.chain.from_iterable
    return (
        np.repeat(np.array(order, dtype=np.int64), lengths),
        np.fromiter(chain(ranked[s].keys() for s in order), dtype=np.int64, count=n),
        np.fromiter(chain(ranked[s].values() for s in order), dtype=np.int64, count=n),
    )


_NO_BAND = 99  # an unknown band meets no band prerequisite; no prerequisite accepts any band


def _quick_eligible(
    students: tuple[Student, ...], offers: tuple[Offer, ...], s: IntArray, o: IntArray
) -> BoolArray:
    """The eligibility rules of matching/eligibility.py, vectorised over pairs (s[i], o[i]).

    True means eligible; False means "ask the rules", which are the reference.
    """
    bit = {name: 1 << i for i, name in enumerate(ELECTIVES)}

    def mask(subjects: frozenset[str]) -> int:
        return sum(bit[x] for x in subjects)

    subj = np.array([mask(st.subjects) for st in students], dtype=np.int64)
    form = np.array([st.form.number for st in students], dtype=np.int64)
    dob_y = np.array([st.date_of_birth.year for st in students], dtype=np.int64)
    dob_md = np.array(
        [st.date_of_birth.month * 100 + st.date_of_birth.day for st in students], dtype=np.int64
    )
    band = np.array(
        [_NO_BAND if st.academic_band is None else st.academic_band for st in students],
        dtype=np.int64,
    )
    consent = np.array([st.parental_consent for st in students], dtype=np.bool_)
    req = np.array([mask(of.prerequisites.required_subjects) for of in offers], dtype=np.int64)
    min_form = np.array(
        [0 if (f := of.prerequisites.min_form) is None else f.number for of in offers],
        dtype=np.int64,
    )
    min_age = np.array([of.prerequisites.min_age or 0 for of in offers], dtype=np.int64)
    first = [of.first_day for of in offers]
    fd_y = np.array([d.year for d in first], dtype=np.int64)
    fd_md = np.array([d.month * 100 + d.day for d in first], dtype=np.int64)
    max_band = np.array(
        [_NO_BAND if (b := of.prerequisites.max_band) is None else b for of in offers],
        dtype=np.int64,
    )
    needs_consent = np.array([of.kind in NEEDS_CONSENT for of in offers], dtype=np.bool_)
    insured = np.array([insurance_problem(of) is None for of in offers], dtype=np.bool_)
    age = fd_y[o] - dob_y[s] - (fd_md[o] < dob_md[s])
    ok: BoolArray = (
        ((req[o] & ~subj[s]) == 0)
        & (form[s] >= min_form[o])
        & (age >= min_age[o])
        & ((max_band[o] == _NO_BAND) | (band[s] <= max_band[o]))
        & (consent[s] | ~needs_consent[o])
        & insured[o]
    )
    return ok

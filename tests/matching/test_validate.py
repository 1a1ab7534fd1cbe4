"""The solver-independent validator: each hard constraint, broken on its own, is reported."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from matching.eligibility import RULES, insurance, student_rules
from matching.validate import problems
from schemas import (
    Allocation,
    Form,
    Instance,
    Insurance,
    LevelGroup,
    OfferKind,
    Prerequisites,
    Result,
    RiskCode,
    Sector,
    StudentOffer,
)
from tests.factories import DAY, instance, offer, prefs, session, student
from tests.matching.helpers import run

L1, L2, L3, TALK = (
    OfferKind.WORKPLACE_L1,
    OfferKind.WORKPLACE_L2,
    OfferKind.WORKPLACE_L3,
    OfferKind.FE_INTERACTION,
)


def _round() -> tuple[Instance, Result]:
    """s1 ranked v (an L1 visit) then t (an L2 tasting, in the afternoon); s2 ranked nothing
    and takes the talk k, the next day, in their interests. All three are allocated."""
    inst = instance(
        [student("s1"), student("s2")],
        [
            offer("v", L1),
            offer("t", L2, sessions=(session(start="14:00", end="17:00"),)),
            offer("k", TALK, capacity=5, sessions=(session(day=DAY + dt.timedelta(days=1)),)),
        ],
        [prefs("s1", "v", "t")],
    )
    result = run(inst)
    assert {(a.student_id, a.offer_id) for a in result.allocations} == {
        ("s1", "v"),
        ("s1", "t"),
        ("s2", "k"),
    }
    assert problems(inst, result) == []
    return inst, result


def _with(result: Result, *allocations: Allocation) -> Result:
    return result.model_copy(update={"allocations": allocations})


def _changed(result: Result, who: str, what: str, **update: Any) -> Result:
    """`result` with the fields of allocation `who` -> `what` changed."""
    return _with(
        result,
        *(
            a.model_copy(update=update) if (a.student_id, a.offer_id) == (who, what) else a
            for a in result.allocations
        ),
    )


def _offer_changed(inst: Instance, offer_id: str, **update: Any) -> Instance:
    offers = tuple(
        o.model_copy(update=update) if o.offer_id == offer_id else o for o in inst.offers
    )
    return inst.model_copy(update={"offers": offers})


def _student_changed(inst: Instance, student_id: str, **update: Any) -> Instance:
    students = tuple(
        s.model_copy(update=update) if s.student_id == student_id else s for s in inst.students
    )
    return inst.model_copy(update={"students": students})


def _the_one(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


def test_the_validator_reports_an_allocation_of_an_unknown_student_or_offer() -> None:
    inst, result = _round()
    ghost = result.allocations[0].model_copy(update={"offer_id": "nowhere"})
    assert "unknown student or offer" in _the_one(problems(inst, _with(result, ghost)))


def test_the_validator_reports_a_pair_allocated_twice() -> None:
    inst, result = _round()
    k = next(a for a in result.allocations if a.offer_id == "k")
    found = problems(inst, _with(result, *result.allocations, k))
    assert "allocation s2 -> k: allocated 2 times" in found
    assert "student s2: 2 allocations in group fe_interaction" in found


def test_the_validator_reports_an_allocation_whose_kind_is_not_its_offer_s() -> None:
    inst, result = _round()
    wrong = _changed(result, "s1", "v", kind=L2, group=LevelGroup.B8_L23)
    assert "does not match the offer's" in _the_one(problems(inst, wrong))


@pytest.mark.parametrize(
    ("offer_update", "student_update", "says"),
    [
        ({"prerequisites": Prerequisites(required_subjects={"physics"})}, {}, "missing subject"),
        ({"prerequisites": Prerequisites(min_form=Form.S6)}, {}, "is for S6 and above"),
        ({"prerequisites": Prerequisites(min_age=18)}, {}, "needs age 18"),
        ({"prerequisites": Prerequisites(max_band=1)}, {}, "needs academic band 1"),
        ({}, {"parental_consent": False}, "no parental consent"),
    ],
)
def test_the_validator_reports_an_allocation_the_student_is_not_eligible_for(
    offer_update: dict[str, Any], student_update: dict[str, Any], says: str
) -> None:
    inst, result = _round()
    broken = _student_changed(_offer_changed(inst, "v", **offer_update), "s1", **student_update)
    found = problems(broken, result)
    assert found and all(says in f for f in found), found  # no consent: v and t both off site


def test_the_validator_reports_an_allocation_whose_insurance_lapses() -> None:
    inst, result = _round()
    lapsed = Insurance(
        insurer="HK Mutual",
        policy_number="P-t",
        valid_from=dt.date(2026, 9, 1),
        expires=dt.date(2027, 2, 1),
    )
    found = _the_one(problems(_offer_changed(inst, "t", insurance=lapsed), result))
    assert "insurance of offer t expires 2027-02-01" in found


def test_the_validator_reports_a_forbidden_pair() -> None:
    inst, result = _round()
    forbidden = inst.model_copy(
        update={"forbidden": (StudentOffer(student_id="s2", offer_id="k"),)}
    )
    assert "the pair is forbidden" in _the_one(problems(forbidden, result))


def test_the_validator_reports_a_pin_flag_the_instance_does_not_hold() -> None:
    inst, result = _round()
    found = _the_one(problems(inst, _changed(result, "s2", "k", pinned=True)))
    assert "pinned flag is True, instance says False" in found


def test_the_validator_reports_a_pinned_pair_left_unallocated() -> None:
    inst, result = _round()
    pinned = inst.model_copy(update={"pinned": (StudentOffer(student_id="s2", offer_id="v"),)})
    assert "pinned pair s2 -> v is not allocated" in problems(pinned, result)


def test_the_validator_reports_an_offer_the_student_did_not_rank() -> None:
    inst, result = _round()
    other = _changed(
        result, "s1", "t", offer_id="k", kind=TALK, group=LevelGroup.FE_INTERACTION, rank=None
    )
    assert "ranked offers but not this one" in _the_one(problems(inst, other))


def test_the_validator_reports_an_unranked_allocation_outside_the_student_s_interests() -> None:
    inst, result = _round()
    elsewhere = _student_changed(inst, "s2", interests=(Sector.ACCOUNTING_FINANCE,))
    assert "outside the student's interests" in _the_one(problems(elsewhere, result))


def test_the_validator_reports_a_rank_the_student_did_not_give() -> None:
    inst, result = _round()
    found = _the_one(problems(inst, _changed(result, "s1", "t", rank=1)))
    assert "rank 1 but the student ranked it 2" in found


def test_the_validator_reports_an_l3_without_a_pre_visit_that_carries_no_risk_flag() -> None:
    inst, result = _round()
    l3 = _offer_changed(inst, "t", kind=L3)
    wrong = _changed(result, "s1", "t", kind=L3)
    assert "L3 pre-visit risk flag is False, should be True" in _the_one(problems(l3, wrong))
    flagged = _changed(result, "s1", "t", kind=L3, risks=(RiskCode.L3_NO_PREVISIT,))
    assert problems(l3, flagged) == []


def test_the_validator_reports_two_allocations_in_one_group() -> None:
    inst, result = _round()
    both = _changed(result, "s1", "t", kind=L1, group=LevelGroup.B8_L1)
    found = problems(_offer_changed(inst, "t", kind=L1, insurance=None), both)
    assert _the_one(found) == "student s1: 2 allocations in group b8_l1"


def test_the_validator_reports_two_allocations_that_overlap_in_time() -> None:
    inst, result = _round()
    morning = _offer_changed(inst, "t", sessions=(session(start="11:00", end="13:00"),))
    assert _the_one(problems(morning, result)) == "student s1: offers v and t overlap in time"


def test_the_eligibility_rules_an_offer_leaves_out_pass_every_student() -> None:
    from services.generator import generate

    # Generated rounds carry every kind of prerequisite, ages, bands, consent and insurance.
    inst = generate(students=400, schools=2, seed=4)
    rng = np.random.default_rng(1)
    pairs = zip(
        rng.integers(0, len(inst.students), 20_000).tolist(),
        rng.integers(0, len(inst.offers), 20_000).tolist(),
        strict=True,
    )
    failed = 0
    for s, o in pairs:
        st, of = inst.students[s], inst.offers[o]
        kept = student_rules(of)
        for rule in RULES:
            if rule not in kept and rule is not insurance:
                assert rule(st, of) is None, (rule.__name__, st.student_id, of.offer_id)
        failed += any(rule(st, of) is not None for rule in kept)
    assert failed > 0  # the rules kept do fail somewhere: the sample is not trivial

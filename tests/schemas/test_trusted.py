"""`Frozen.trusted`: records built from values already valid, as `model_construct` builds them."""

from __future__ import annotations

from schemas import Allocation, Explanation, LevelGroup, OfferKind, Reason, ReasonCode, RiskCode


def _allocation_values() -> dict[str, object]:
    return {
        "student_id": "s1",
        "offer_id": "o1",
        "kind": OfferKind.WORKPLACE_L3,
        "group": LevelGroup.B8_L23,
        "rank": 2,
        "pinned": False,
        "pending_interview": True,
        "risks": (RiskCode.L3_NO_PREVISIT,),
    }


def test_a_trusted_record_equals_the_validated_one_in_every_way() -> None:
    values = _allocation_values()
    trusted = Allocation.trusted(**values)
    validated = Allocation.model_validate(values)
    assert trusted == validated
    assert hash(trusted) == hash(validated)
    assert repr(trusted) == repr(validated)
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted == Allocation.model_construct(**values)


def test_a_trusted_record_nests_and_stays_frozen() -> None:
    reason = Reason.trusted(code=ReasonCode.FULL, message="taken", offer_id="o1")
    made = Explanation.trusted(student_id="s1", summary="not placed", reasons=(reason,))
    assert made == Explanation.model_validate_json(made.model_dump_json())
    try:
        made.summary = "changed"  # type: ignore[misc]
    except Exception as e:  # pydantic's frozen-instance ValidationError
        assert "frozen" in str(e)
    else:
        raise AssertionError("a trusted record could be changed")


def test_a_record_missing_fields_falls_back_to_model_construct_with_its_defaults() -> None:
    made = Allocation.trusted(
        student_id="s1", offer_id="o1", kind=OfferKind.WORKPLACE_L1, group=LevelGroup.B8_L1
    )
    assert made.rank is None and made.risks == () and not made.pinned
    assert made.model_fields_set == {"student_id", "offer_id", "kind", "group"}


def test_many_trusted_records_are_each_what_trusted_makes_and_odd_rows_fall_back() -> None:
    values = _allocation_values()
    short = {"student_id": "s2", "offer_id": "o2", "kind": OfferKind.WORKPLACE_L1}
    made = Allocation.trusted_many([dict(values), short | {"group": LevelGroup.B8_L1}])
    assert made[0] == Allocation.trusted(**values) == Allocation.model_validate(values)
    assert made[0].model_fields_set == set(values)
    assert made[1] == Allocation.model_validate(short | {"group": LevelGroup.B8_L1})
    assert made[1].model_fields_set == {"student_id", "offer_id", "kind", "group"}

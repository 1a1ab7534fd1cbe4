import datetime as dt

import pytest
from pydantic import ValidationError

from schemas import LevelGroup, OfferKind, PreferenceList
from schemas.events import (
    ANY_EVENT,
    TOPIC_ADAPTERS,
    AllocationMade,
    AllocationProposed,
    OfferWithdrawn,
    StudentRegistered,
    allocation_events,
)
from schemas.export import json_schemas
from schemas.result import Allocation, RiskCode
from tests.factories import instance, offer, prefs, student


def test_a_preference_list_ranking_an_offer_twice_is_rejected() -> None:
    with pytest.raises(ValidationError, match="offer o1 is ranked twice"):
        PreferenceList(student_id="s1", ranked=("o1", "o2", "o1"))


def test_preferences_for_an_unknown_student_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"preferences\[0\]\.student_id: unknown student s9"):
        instance([student()], [offer()], [prefs("s9", "o1")])


def test_ranking_an_unknown_offer_names_the_position() -> None:
    with pytest.raises(ValidationError, match=r"preferences\[0\]\.ranked\[1\].*unknown offer o7"):
        instance([student()], [offer()], [prefs("s1", "o1", "o7")])


def test_ranking_more_offers_than_the_round_allows_is_rejected() -> None:
    offers = [offer(f"o{i}") for i in range(4)]
    with pytest.raises(ValidationError, match="ranks 4 offers; this round allows 3"):
        instance([student()], offers, [prefs("s1", "o0", "o1", "o2", "o3")], max_ranks=3)


def test_a_pair_both_pinned_and_forbidden_is_rejected() -> None:
    with pytest.raises(ValidationError, match="both pinned to and forbidden"):
        instance([student()], [offer()], pinned=[("s1", "o1")], forbidden=[("s1", "o1")])


def test_duplicate_student_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match=r"students\[1\]: duplicate id s1"):
        instance([student(), student()], [offer()])


def test_every_topic_decodes_its_own_events_by_type() -> None:
    event = OfferWithdrawn(offer_id="o1", reason="venue closed")
    decoded = TOPIC_ADAPTERS["offers"].validate_json(event.model_dump_json())
    assert decoded == event
    assert ANY_EVENT.validate_json(event.model_dump_json()) == event


def test_an_event_of_another_topic_is_refused() -> None:
    event = StudentRegistered(student=student())
    with pytest.raises(ValidationError, match="offer_submitted"):
        TOPIC_ADAPTERS["offers"].validate_json(event.model_dump_json())


def test_events_carry_a_versioned_envelope() -> None:
    event = StudentRegistered(student=student(), source="school-import")
    data = event.model_dump(mode="json")
    assert {"event_id", "type", "schema_version", "occurred_at", "source"} <= data.keys()
    assert data["schema_version"] == 1
    assert event.occurred_at.tzinfo is not None
    assert event.occurred_at <= dt.datetime.now(dt.UTC)


def test_events_are_frozen_values() -> None:
    event = OfferWithdrawn(offer_id="o1")
    with pytest.raises(ValidationError):
        event.offer_id = "o2"  # type: ignore[misc]


def test_json_schema_export_covers_entities_instance_result_and_every_topic() -> None:
    names = json_schemas().keys()
    assert {"student", "offer", "instance", "result"} <= names
    assert {f"topic.{t}" for t in TOPIC_ADAPTERS} <= names


@pytest.mark.parametrize("kind", [AllocationMade, AllocationProposed])
def test_allocation_events_written_directly_are_exactly_what_the_models_write(
    kind: type[AllocationMade] | type[AllocationProposed],
) -> None:
    allocations = [
        Allocation(
            student_id="s1", offer_id="o1", kind=OfferKind.WORKPLACE_L1, group=LevelGroup.B8_L1
        ),
        Allocation(
            student_id="s2",
            offer_id="o3",
            kind=OfferKind.WORKPLACE_L3,
            group=LevelGroup.B8_L23,
            rank=2,
            pinned=True,
            pending_interview=True,
            risks=(RiskCode.L3_NO_PREVISIT,),
        ),
    ]
    written = list(allocation_events(kind, "rounds-\u00e9 100%s", "r-1", allocations))
    assert [a for _, a, _ in written] == allocations
    assert len({event_id for event_id, _, _ in written}) == 2
    for event_id, allocation, payload in written:
        event = TOPIC_ADAPTERS["allocations"].validate_json(payload)
        assert event.event_id == event_id
        model = kind(
            event_id=event_id,
            occurred_at=event.occurred_at,
            source="rounds-\u00e9 100%s",
            round_id="r-1",
            allocation=allocation,
        )
        assert payload == model.model_dump_json()


def test_allocation_events_for_a_bad_round_id_name_the_field() -> None:
    with pytest.raises(ValidationError, match="round_id"):
        list(allocation_events(AllocationMade, "rounds", "", []))

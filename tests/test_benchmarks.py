"""The service benchmark's round observer recognises events by their wire form, not by parsing
them: these tests hold that recognition to the events the relay really publishes."""

from __future__ import annotations

from benchmarks.service import _Sightings
from schemas import Allocation, OfferKind
from schemas.events import AllocationMade, AllocationProposed, RoundCompleted, allocation_events


def _allocation(student_id: str) -> Allocation:
    kind = OfferKind.WORKPLACE_L1
    return Allocation(student_id=student_id, offer_id="o1", kind=kind, group=kind.group, rank=1)


def test_the_tail_counts_the_rounds_allocation_made_events_and_nothing_else() -> None:
    seen = _Sightings("r1")
    made = allocation_events(AllocationMade, "rounds", "r1", [_allocation("s1"), _allocation("s2")])
    for _, _, payload in made:
        seen.add("allocations", payload.encode(), 1.0)
    other_round = AllocationMade(source="rounds", round_id="r10", allocation=_allocation("s3"))
    proposed = AllocationProposed(source="rounds", round_id="r1", allocation=_allocation("s4"))
    for event in (other_round, proposed):
        seen.add("allocations", event.model_dump_json().encode(), 2.0)
    assert (seen.seen, seen.first, seen.last, seen.done) == (2, 1.0, 1.0, False)


def test_the_tail_is_done_when_round_completed_says_all_were_made() -> None:
    seen = _Sightings("r1")
    completed = RoundCompleted(source="rounds", round_id="r1", mode="commit", status="done", made=1)
    seen.add("rounds", completed.model_dump_json().encode(), 3.0)
    assert not seen.done
    seen.add(
        "allocations",
        AllocationMade(source="rounds", round_id="r1", allocation=_allocation("s1"))
        .model_dump_json()
        .encode(),
        4.0,
    )
    assert seen.done
    assert seen.report(False, "aiokafka")["completed"]["made"] == 1

"""The optimality line a careers teacher reads: the objective against its bound, in words."""

from __future__ import annotations

import pytest

from schemas import Metrics, describe_optimality
from tests import factories

BOUND_150K = (85_639, 85_639, 376_945, 0)
OBJECTIVE_150K = (85_639, 85_639, 376_932, -1_669_208)


def test_a_proven_round_says_so() -> None:
    assert describe_optimality((4, 4, 12, -20), (4, 4, 12, -20), True, "m") == "proven optimal"


def test_an_open_level_is_named_with_how_far_the_bound_allows_and_the_levels_above_proven() -> None:
    line = describe_optimality(OBJECTIVE_150K, BOUND_150K, False, "m")
    assert line == (
        "Benchmark 8 pairs and pairs at below-target schools proven the best possible; "
        "weighted placements 376,932, at most 13 (0.0034%) below the best possible; "
        "ranks not proven yet"
    )


def test_an_open_rank_level_reads_as_a_cost_above_the_least_possible() -> None:
    line = describe_optimality((5, 5, 10, -40), (5, 5, 10, -38), False, "m")
    assert line == (
        "Benchmark 8 pairs, pairs at below-target schools and weighted placements proven the "
        "best possible; rank cost 40, at most 2 above the least possible"
    )


def test_an_open_first_level_leaves_every_level_below_it_unproven() -> None:
    line = describe_optimality((5, 3, 10, -40), (6, 3, 12, 0), False, "m")
    assert line == (
        "Benchmark 8 pairs 5, at most 1 (20%) below the best possible; pairs at below-target "
        "schools, weighted placements and ranks not proven yet"
    )


def test_a_level_at_zero_gives_no_share() -> None:
    line = describe_optimality((0, 0, 3, -4), (1, 0, 3, -4), False, "m")
    assert line.startswith("Benchmark 8 pairs 0, at most 1 below the best possible;")


def test_a_stable_round_has_no_bound_and_names_its_method() -> None:
    line = describe_optimality((4, 4, 12, -20), (4, 4, 12, -20), False, "deferred acceptance")
    assert line == "no bound: deferred acceptance"


@pytest.mark.parametrize("kept", ["", "proven optimal"])
def test_metrics_read_the_line_they_keep_or_work_it_out_for_older_rounds(kept: str) -> None:
    metrics = factories.metrics(
        objective=OBJECTIVE_150K, bound=BOUND_150K, proven_optimal=False, optimality=kept
    )
    worked_out = describe_optimality(OBJECTIVE_150K, BOUND_150K, False, "flow")
    assert metrics.optimality_text() == (kept or worked_out)
    # Metrics stored before the line was kept still load.
    older = metrics.model_dump(mode="json")
    del older["optimality"]
    assert Metrics.model_validate(older).optimality_text() == worked_out

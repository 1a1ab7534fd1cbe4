from __future__ import annotations

from matching import explain_student, solve
from schemas import Instance, Result, SolveOptions


def allocated(result: Result) -> set[tuple[str, str]]:
    return {(a.student_id, a.offer_id) for a in result.allocations}


def run(inst: Instance, **options: object) -> Result:
    return solve(inst, SolveOptions(**options))  # type: ignore[arg-type]


def reasons(result: Result, student_id: str) -> str:
    return " | ".join(r.message for r in explain_student(result, student_id).reasons)


def same(a: Result, b: Result) -> bool:
    """Equal in everything but the wall-clock time."""
    skip = {"metrics": {"solve_seconds"}}
    return a.model_dump(exclude=skip) == b.model_dump(exclude=skip)  # type: ignore[arg-type]

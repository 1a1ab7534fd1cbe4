"""The matching engine: pure functions from an instance to a validated result.

Imports only the standard library, pydantic, numpy and OR-Tools: no Kafka, no database, no HTTP.
"""

from matching.errors import Infeasible, InvalidInstance, MatchingError, ValidationFailed
from matching.risk import Finding, assess, offer_findings
from matching.solver import solve
from matching.validate import validate_result

__all__ = [
    "Finding",
    "Infeasible",
    "InvalidInstance",
    "MatchingError",
    "ValidationFailed",
    "assess",
    "explain_student",
    "offer_findings",
    "solve",
    "validate_result",
]

from schemas import Explanation, Result


def explain_student(result: Result, student_id: str) -> Explanation:
    """The student's explanation; KeyError if the result does not know the student."""
    for e in (*result.unmatched, *result.explanations):
        if e.student_id == student_id:
            return e
    own = [a for a in result.allocations if a.student_id == student_id]
    if not own:
        raise KeyError(student_id)
    return Explanation(
        student_id=student_id,
        summary="placed: got their first choice, or ranked nothing and was placed by interests",
        reasons=(),
    )

"""Errors the engine raises. Every one names the offending record.

MatchingError            base: catch this at an entrypoint
├── InvalidInstance      the input breaks a rule the solver cannot work around
├── Infeasible           the hard constraints (e.g. pins) cannot all hold
└── ValidationFailed     a result broke a hard constraint (a bug: never returned to users)
"""

from __future__ import annotations


class MatchingError(Exception):
    def __init__(self, message: str, record: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.record = record


class InvalidInstance(MatchingError):
    pass


class Infeasible(MatchingError):
    pass


class ValidationFailed(MatchingError):
    def __init__(self, problems: list[str]) -> None:
        head = problems[0] if problems else "unknown problem"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"result breaks a hard constraint: {head}{more}")
        self.problems = problems

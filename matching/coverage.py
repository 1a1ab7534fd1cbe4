"""Benchmark 8 and 9 coverage per (school, form), for careers teams watching the target.

One pass over the students and one over the placements: it runs over a whole cluster
(150,000 students) on every attendance event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas import Form, LevelGroup, OfferKind, Student


@dataclass(frozen=True)
class Placement:
    """An allocation still in force (active or held), or an attended encounter."""

    student_id: str
    kind: OfferKind
    attended: bool = False
    debriefed: bool = False
    date: dt.date | None = None  # an attended visit with no date counts as this school year


@dataclass(frozen=True)
class CoverageRow:
    school_id: str
    form: Form
    students: int
    b8_projected: int  # L1 and L2-or-L3 each allocated or attended
    b8_achieved: int  # L1 and L2-or-L3 each attended and debriefed
    target_pct: float
    fe_visits: int  # an attended further-education visit this school year
    fe_interactions: int  # an attended further-education interaction, ever

    @property
    def projected_pct(self) -> float:
        return 100.0 * self.b8_projected / self.students if self.students else 0.0

    @property
    def achieved_pct(self) -> float:
        return 100.0 * self.b8_achieved / self.students if self.students else 0.0

    @property
    def below_target(self) -> bool:
        return self.projected_pct < self.target_pct


# One bit per fact about a student.
_L1_HELD = 1
_L23_HELD = 2
_L1_DONE = 4
_L23_DONE = 8
_FE_VISIT = 16
_FE_INTERACTION = 32
_PROJECTED = _L1_HELD | _L23_HELD
_ACHIEVED = _L1_DONE | _L23_DONE

_HELD = {LevelGroup.B8_L1: _L1_HELD, LevelGroup.B8_L23: _L23_HELD}
_DONE = {LevelGroup.B8_L1: _L1_DONE, LevelGroup.B8_L23: _L23_DONE}


def _school_year(today: dt.date) -> tuple[dt.date, dt.date]:
    """The Hong Kong school year containing `today`: 1 September to 31 August."""
    start = today.year if today.month >= 9 else today.year - 1
    return dt.date(start, 9, 1), dt.date(start + 1, 8, 31)


def _bits(kind: OfferKind, attended: bool, debriefed: bool, this_year: bool) -> int:
    group = kind.group
    bits = _HELD.get(group, 0)
    if attended:
        if debriefed:
            bits |= _DONE.get(group, 0)
        if kind == OfferKind.FE_VISIT and this_year:
            bits |= _FE_VISIT
        elif kind == OfferKind.FE_INTERACTION:
            bits |= _FE_INTERACTION
    return bits


def coverage(
    students: Iterable[Student],
    placements: Iterable[Placement],
    *,
    targets: Mapping[str, float],
    default_target: float = 90.0,
    today: dt.date,
) -> list[CoverageRow]:
    """One row per (school, form) that has students, sorted by (school_id, form).

    `Student.attended` encounters count as attended placements. Placements of students not in
    `students` are ignored; a student listed twice counts once (the first record).
    """
    first, last = _school_year(today)
    index: dict[str, int] = {}
    keys: list[tuple[str, Form]] = []
    flags: list[int] = []
    for student in students:
        if student.student_id in index:
            continue
        index[student.student_id] = len(flags)
        keys.append((student.school_id, student.form))
        bits = 0
        for e in student.attended:
            bits |= _bits(e.kind, True, e.debriefed, first <= e.date <= last)
        flags.append(bits)
    for p in placements:
        i = index.get(p.student_id)
        if i is not None:
            this_year = p.date is None or first <= p.date <= last
            flags[i] |= _bits(p.kind, p.attended, p.debriefed, this_year)

    counts: dict[tuple[str, Form], list[int]] = {}
    for key, bits in zip(keys, flags, strict=True):
        row = counts.get(key)
        if row is None:
            row = counts[key] = [0, 0, 0, 0, 0]
        row[0] += 1
        row[1] += (bits & _PROJECTED) == _PROJECTED
        row[2] += (bits & _ACHIEVED) == _ACHIEVED
        row[3] += bool(bits & _FE_VISIT)
        row[4] += bool(bits & _FE_INTERACTION)
    return [
        CoverageRow(
            school_id=school,
            form=form,
            students=n,
            b8_projected=projected,
            b8_achieved=achieved,
            target_pct=targets.get(school, default_target),
            fe_visits=visits,
            fe_interactions=interactions,
        )
        for (school, form), (n, projected, achieved, visits, interactions) in sorted(
            counts.items(), key=lambda kv: (kv[0][0], kv[0][1].number)
        )
    ]

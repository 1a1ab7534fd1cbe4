"""Build the engine's input for a round from the system of record.

Read everything through one unit of work opened with `snapshot=True` (REPEATABLE READ on
PostgreSQL, one read transaction on SQLite), so students, offers, preferences and attendance are
one consistent version even while events keep arriving:

    with db.unit_of_work(snapshot=True) as uow:
        instance = load_round(uow, uow.rounds.get(round_id))

What goes in:
- students of the schools in scope (all schools for scope "all"), by student_id;
- every offer not withdrawn (offers are open to every school), by offer_id;
- those students' preference lists, without withdrawn offers and cut to the round's max_ranks
  (a list longer than a later rule allows keeps its best choices rather than failing the round);
- pins and forbidden pairs of those students on offers still open;
- encounters already had: the ones registered with the student, then one per offer the student
  attended (attendance rows with attended=True), of the offer's kind, dated by the first
  attended session and debriefed if any session's debrief is recorded.
"""

from __future__ import annotations

import datetime as dt

from schemas import AttendedEncounter, Instance, OfferKind, PreferenceList, RoundRules, Student
from services.persistence.records import AttendanceRecord, RoundRecord
from services.persistence.repository import SchoolIds
from services.persistence.unit_of_work import AbstractUnitOfWork


def load_round(uow: AbstractUnitOfWork, round_: RoundRecord) -> Instance:
    """The instance for a stored round: its scope, and its rules."""
    school_ids = None if round_.scope == "all" else round_.school_ids
    return load_instance(uow, round_.round_id, school_ids, round_.rules)


def load_instance(
    uow: AbstractUnitOfWork,
    round_id: str,
    school_ids: SchoolIds = None,
    rules: RoundRules | None = None,
) -> Instance:
    """The instance for students of `school_ids` (None: every school), as described above."""
    rules = rules or RoundRules()
    offers = uow.offers.records(include_withdrawn=True)
    kinds = {r.offer.offer_id: r.offer.kind for r in offers}
    open_ids = {r.offer.offer_id for r in offers if not r.withdrawn}
    attended = _encounters(uow.attendance.find(school_ids=school_ids, attended=True), kinds)
    return Instance(
        round_id=round_id,
        students=tuple(
            _with_encounters(s, attended.get(s.student_id, ()))
            for s in uow.students.find(school_ids)
        ),
        offers=tuple(r.offer for r in offers if not r.withdrawn),
        preferences=tuple(
            _open(p, open_ids, rules.max_ranks) for p in uow.preferences.find(school_ids)
        ),
        pinned=tuple(p for p in uow.overrides.pinned(school_ids) if p.offer_id in open_ids),
        forbidden=tuple(p for p in uow.overrides.forbidden(school_ids) if p.offer_id in open_ids),
        rules=rules,
    )


def _encounters(
    rows: list[AttendanceRecord], kinds: dict[str, OfferKind]
) -> dict[str, tuple[AttendedEncounter, ...]]:
    """One encounter per (student, offer) attended; rows come sorted by student, offer, date."""
    first: dict[tuple[str, str], dt.date] = {}
    debriefed: dict[tuple[str, str], bool] = {}
    for row in rows:
        key = (row.student_id, row.offer_id)
        first.setdefault(key, row.date)
        debriefed[key] = debriefed.get(key, False) or row.debriefed
    out: dict[str, list[AttendedEncounter]] = {}
    for (student_id, offer_id), date in sorted(first.items(), key=lambda kv: (kv[1], kv[0])):
        encounter = AttendedEncounter(
            kind=kinds[offer_id], date=date, debriefed=debriefed[(student_id, offer_id)]
        )
        out.setdefault(student_id, []).append(encounter)
    return {student_id: tuple(encounters) for student_id, encounters in out.items()}


def _with_encounters(student: Student, encounters: tuple[AttendedEncounter, ...]) -> Student:
    if not encounters:
        return student
    return student.model_copy(update={"attended": (*student.attended, *encounters)})


def _open(preferences: PreferenceList, open_ids: set[str], max_ranks: int) -> PreferenceList:
    ranked = tuple(o for o in preferences.ranked if o in open_ids)[:max_ranks]
    if ranked == preferences.ranked:
        return preferences
    return preferences.model_copy(update={"ranked": ranked})

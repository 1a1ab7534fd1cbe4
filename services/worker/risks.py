"""Risk checks on allocations in force: flag what is wrong, clear what was fixed, hold or release.

One function, `recheck`, serves every trigger: the risk agent runs it on each committed
allocation, and the ingest handlers run it in their own transaction when an offer is edited or
withdrawn or a student re-registers, so a change and its risk verdict commit together. Risks are
per placement, keyed (student, offer, code): an insurance problem on an offer flags each of its
placements, and each is released when its last risk is cleared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from matching.risk import assess
from schemas import RiskCode
from schemas.events import RiskCleared, RiskFlagged
from services.persistence import (
    AbstractUnitOfWork,
    AllocationStatus,
    RiskStatus,
    StoredAllocation,
)
from services.worker.messages import queue

IN_FORCE = (AllocationStatus.ACTIVE, AllocationStatus.HELD)
SOURCE = "placement-risk-check"


@dataclass
class RiskChanges:
    flagged: int = 0
    cleared: int = 0
    held: int = 0
    released: int = 0


def flag_risk(
    uow: AbstractUnitOfWork,
    student_id: str,
    offer_id: str,
    code: RiskCode,
    detail: str,
    source: str = SOURCE,
) -> bool:
    """Flag the placement's risk and queue its RiskFlagged; False if it was flagged already."""
    if not uow.risks.flag(student_id, offer_id, code, detail):
        return False
    queue(
        uow,
        RiskFlagged(
            source=source, student_id=student_id, offer_id=offer_id, code=code, detail=detail
        ),
    )
    return True


def recheck(uow: AbstractUnitOfWork, allocations: Iterable[StoredAllocation]) -> RiskChanges:
    """Assess each allocation in force against its student and offer as stored now.

    New risks are flagged (RiskFlagged queued), risks that no longer apply are cleared
    (RiskCleared queued); an allocation with any risk flagged is held, one with none is active.
    Revoked allocations are skipped. Idempotent: a second run changes and queues nothing.
    """
    current = [a for a in allocations if a.status in IN_FORCE]
    if not current:
        return RiskChanges()
    students = uow.students.get_many({a.allocation.student_id for a in current})
    offers = uow.offers.get_records({a.allocation.offer_id for a in current})
    # Every flag in force, read once: a round's batch re-checks thousands of allocations, and
    # flagged placements are few.
    flagged_now: dict[tuple[str, str], set[RiskCode]] = {}
    for flag in uow.risks.find(status=RiskStatus.FLAGGED):
        if flag.student_id is not None:
            flagged_now.setdefault((flag.student_id, flag.offer_id), set()).add(flag.code)
    changes = RiskChanges()
    for stored in current:
        allocation = stored.allocation
        student, record = students.get(allocation.student_id), offers.get(allocation.offer_id)
        if student is None or record is None:  # a foreign key makes this impossible
            continue
        findings = {f.code: f for f in assess(student, record.offer, withdrawn=record.withdrawn)}
        flagged = flagged_now.get((allocation.student_id, allocation.offer_id), set())
        for code, finding in sorted(findings.items()):
            if flag_risk(uow, allocation.student_id, allocation.offer_id, code, finding.detail):
                changes.flagged += 1
        for code in sorted(flagged - findings.keys()):
            if uow.risks.clear(allocation.student_id, allocation.offer_id, code):
                changes.cleared += 1
                queue(
                    uow,
                    RiskCleared(
                        source=SOURCE,
                        student_id=allocation.student_id,
                        offer_id=allocation.offer_id,
                        code=code,
                    ),
                )
        wanted = AllocationStatus.HELD if findings else AllocationStatus.ACTIVE
        reason = "; ".join(f.detail for _, f in sorted(findings.items()))
        # A round stores a risky allocation held with no reason: record why it is held, and
        # keep the reason current when the risks of a held allocation change.
        if stored.status is not wanted or stored.reason != reason:
            uow.allocations.set_status(
                stored.round_id, allocation.student_id, allocation.offer_id, wanted, reason
            )
        if stored.status is not wanted:
            if wanted is AllocationStatus.HELD:
                changes.held += 1
            else:
                changes.released += 1
    return changes

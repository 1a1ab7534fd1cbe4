"""What the CLI shows: solver progress, a round's summary, one student's explanation."""

from __future__ import annotations

import math
from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from schemas import Explanation, Instance, Result

SCHOOLS_SHOWN = 25  # above this many schools, show the lowest-covered ones only


class StageProgress:
    """A progress row per solver stage, fed by `solve(..., progress=stages.update)`."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._stage: str | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> StageProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._finish_stage()
        self._progress.stop()

    def update(self, stage: str, fraction: float) -> None:
        if stage != self._stage or self._task is None:
            self._finish_stage()
            self._stage = stage
            self._task = self._progress.add_task(stage, total=1.0)
        self._progress.update(self._task, completed=min(max(fraction, 0.0), 1.0))

    def _finish_stage(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=1.0)


def print_instance_summary(console: Console, instance: Instance, path: str) -> None:
    kinds = Counter(o.kind.value for o in instance.offers)
    schools = len({s.school_id for s in instance.students})
    by_kind = ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items()))
    console.print(
        f"Wrote {path}: {len(instance.students):,} students in {schools:,} schools, "
        f"{len(instance.offers):,} offers ({by_kind}), "
        f"{len(instance.preferences):,} preference lists.",
        highlight=False,
    )


def print_summary(console: Console, result: Result) -> None:
    m = result.metrics
    overview = Table.grid(padding=(0, 2))
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("Round", f"{result.round_id} (mode {result.mode}, seed {result.seed})")
    overview.add_row("Students", f"{m.students:,}")
    overview.add_row(
        "Matched students", f"{m.matched_students:,} ({_pct(m.matched_students, m.students)})"
    )
    overview.add_row("Placements", f"{m.placements:,} across {m.offers:,} offers")
    overview.add_row(
        "Benchmark 8 coverage",
        f"{m.b8_coverage_pct:.1f}% ({m.b8_completed:,} with an L1 and an L2/L3); "
        f"lowest school {m.lowest_school_coverage_pct:.1f}%",
    )
    overview.add_row("First-choice share", f"{m.first_choice_share:.1%}")
    no_rank = m.mean_rank is None or math.isnan(m.mean_rank)
    overview.add_row("Mean rank", "-" if no_rank else f"{m.mean_rank:.2f}")
    overview.add_row("Risk flags", f"{m.risk_flags:,}")
    overview.add_row("Optimality", _optimality(result))
    overview.add_row("Method", m.method)
    overview.add_row("Solve time", f"{m.solve_seconds:.2f} s")
    console.print(overview)
    console.print(_school_table(result))
    console.print(_rank_table(result))


def print_explanation(console: Console, result: Result, explanation: Explanation) -> None:
    student = explanation.student_id
    console.print(Text(f"Student {student}", style="bold"), Text(explanation.summary))
    allocations = [a for a in result.allocations if a.student_id == student]
    if allocations:
        table = Table("Offer", "Kind", "Group", "Rank", "Notes", title="Allocations")
        for a in allocations:
            notes = [
                *(["pinned"] if a.pinned else []),
                *(["pending interview"] if a.pending_interview else []),
            ]
            notes += [f"risk: {r.value}" for r in a.risks]
            rank = "unranked" if a.rank is None else str(a.rank)
            table.add_row(a.offer_id, a.kind.value, a.group.value, rank, ", ".join(notes))
        console.print(table)
    else:
        console.print("No allocations in this round.")
    if explanation.reasons:
        table = Table("Reason", "Offer", "Detail", title="Why")
        for reason in explanation.reasons:
            table.add_row(reason.code.value, reason.offer_id or "", reason.message)
        console.print(table)


def _optimality(result: Result) -> Text:
    m = result.metrics
    return Text(m.optimality_text(), style="green" if m.proven_optimal else "yellow")


def _school_table(result: Result) -> Table:
    schools = sorted(result.metrics.schools, key=lambda s: (s.coverage_pct, s.school_id))
    below = sum(s.coverage_pct < s.target_pct for s in schools)
    shown = schools if len(schools) <= SCHOOLS_SHOWN else schools[:SCHOOLS_SHOWN]
    caption = f"{below} of {len(schools)} schools below target"
    if len(shown) < len(schools):
        caption += f"; the {len(shown)} lowest shown"
    table = Table(
        "School",
        "Students",
        "B8 done",
        "Coverage",
        "Target",
        "",
        title="Benchmark 8 by school",
        caption=caption,
    )
    for s in shown:
        status = (
            Text("below target", style="bold red")
            if s.coverage_pct < s.target_pct
            else Text("ok", style="green")
        )
        table.add_row(
            s.school_id,
            f"{s.students:,}",
            f"{s.completed:,}",
            f"{s.coverage_pct:.1f}%",
            f"{s.target_pct:g}%",
            status,
        )
    return table


def _rank_table(result: Result) -> Table:
    distribution = result.metrics.rank_distribution
    total = sum(distribution.values())
    table = Table("Rank", "Allocations", "Share", "", title="Allocations by rank")
    for key in sorted(distribution, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0)):
        count = distribution[key]
        share = count / total if total else 0.0
        table.add_row(key, f"{count:,}", f"{share:.1%}", "█" * round(share * 40))
    return table


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"

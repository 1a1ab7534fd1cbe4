"""An independent MIP of the matching model, solved lexicographically with HiGHS.

It shares nothing with the engine's methods but the indexed problem (`build_problem`): the
candidate arcs, capacities left after pins, attended/pinned encounters and the clash pairs.
Variables and rows:

* x_a binary per candidate arc;
* sum of x over one student's arcs in one level group <= 1;
* sum of x over an offer's arcs <= its capacity;
* x_a + x_b <= 1 for every clash pair;
* z_s binary per student not already holding the Benchmark 8 pair and able to complete it,
  z_s <= [has_l1] + sum of L1 arcs, z_s <= [has_l23] + sum of L2/L3 arcs.

The four levels of `matching.objective` are maximised one after another; each optimum is then
kept as a row (level >= optimum) before the next level is looked at. The matrix is built with
numpy and passed to HiGHS in one call (column-wise), never row by row.

Checks, because HiGHS 1.16 gave wrong answers on some of these models (see `_run_level`):
no level is warm-started from the previous level's solution (with `setSolution` before a
re-solve, presolve reported "optimal" with a value the returned solution does not have), and
every answer is checked against the rows and the value already known to be feasible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import numpy.typing as npt

from matching.problem import L1, L23, Problem

Objective = tuple[int, int, int, int]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LevelReport:
    level: int  # 1-based
    status: str
    value: int | None  # best value found at this level (constants included)
    bound: float | None  # HiGHS's dual bound at this level (constants included)
    gap: float | None  # HiGHS's relative gap at this level
    seconds: float


@dataclass(frozen=True)
class MipResult:
    objective: Objective | None  # of the best allocation found; None if none was found
    pairs: list[tuple[int, int]]  # (student, offer), pins included
    optimal: bool  # every level proven optimal
    seconds: float  # total, model building included
    build_seconds: float
    levels: list[LevelReport] = field(default_factory=list)
    stopped_at_level: int | None = None  # first level not proven, if any
    gap: float | None = None  # relative gap of that level
    n_cols: int = 0
    n_rows: int = 0
    n_nonzeros: int = 0


@dataclass
class _Model:
    n_cols: int
    n_x: int
    z_student: IntArray  # student of each z column (column n_x + i)
    row_upper: FloatArray
    col_start: npt.NDArray[np.int32]
    row_index: npt.NDArray[np.int32]
    values: FloatArray
    levels: list[tuple[FloatArray, int]]  # (column coefficients, constant) per level


def _build(problem: Problem) -> _Model:
    n_x = problem.n_arcs
    students = problem.arc_student
    groups = problem.arc_group
    arcs = np.arange(n_x, dtype=np.int64)
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    upper: list[FloatArray] = []
    n_rows = 0

    def add(row: IntArray, col: IntArray, val: FloatArray, ub: FloatArray) -> None:
        nonlocal n_rows
        rows.append(row + n_rows)
        cols.append(col)
        vals.append(val)
        upper.append(ub)
        n_rows += len(ub)

    # one allocation per student and level group
    slot = students * 4 + groups
    _, slot_id, slot_count = np.unique(slot, return_inverse=True, return_counts=True)
    multi = slot_count > 1
    row_of_slot = np.cumsum(multi) - 1
    keep = multi[slot_id]
    add(row_of_slot[slot_id[keep]], arcs[keep], np.ones(int(keep.sum())), np.ones(int(multi.sum())))

    # offer capacity (rows that cannot bind are left out)
    offers = problem.arc_offer
    n_off = len(problem.offers)
    per_offer = np.bincount(offers, minlength=n_off)
    binding = per_offer > problem.capacity
    row_of_offer = np.cumsum(binding) - 1
    keep = binding[offers]
    add(
        row_of_offer[offers[keep]],
        arcs[keep],
        np.ones(int(keep.sum())),
        problem.capacity[binding].astype(np.float64),
    )

    # clashing arcs exclude each other
    clash = np.array(problem.clash_pairs(), dtype=np.int64).reshape(-1, 2)
    k = len(clash)
    add(
        np.repeat(np.arange(k, dtype=np.int64), 2),
        clash.reshape(-1),
        np.ones(2 * k),
        np.ones(k),
    )

    # the Benchmark 8 pair indicator
    n = problem.n_students
    has_l1_arc = np.zeros(n, dtype=np.bool_)
    has_l23_arc = np.zeros(n, dtype=np.bool_)
    has_l1_arc[students[groups == L1]] = True
    has_l23_arc[students[groups == L23]] = True
    complete = problem.has_l1 & problem.has_l23
    possible = (problem.has_l1 | has_l1_arc) & (problem.has_l23 | has_l23_arc) & ~complete
    z_student = np.flatnonzero(possible).astype(np.int64)
    z_col = np.full(n, -1, dtype=np.int64)
    z_col[z_student] = n_x + np.arange(len(z_student), dtype=np.int64)
    for side, attended in ((L1, problem.has_l1), (L23, problem.has_l23)):
        needs = possible & ~attended
        row_of = np.cumsum(needs) - 1
        who = np.flatnonzero(needs)
        side_arcs = arcs[(groups == side) & needs[students]]
        add(
            np.concatenate([row_of[who], row_of[students[side_arcs]]]),
            np.concatenate([z_col[who], side_arcs]),
            np.concatenate([np.ones(len(who)), -np.ones(len(side_arcs))]),
            np.zeros(len(who)),
        )

    n_cols = n_x + len(z_student)
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    val = np.concatenate(vals)
    order = np.lexsort((row, col))
    col_start = np.searchsorted(col[order], np.arange(n_cols + 1)).astype(np.int32)

    # objective levels: coefficients over all columns and the constant from attended/pinned
    z_below = problem.below_target[z_student].astype(np.float64)
    zeros_x = np.zeros(n_x)
    zeros_z = np.zeros(len(z_student))
    rules = problem.instance.rules
    pinned_weight = sum(int(problem.weight[s]) for s, _ in problem.pinned)
    pinned_cost = sum(rules.rank_cost(problem.ranked.get(s, {}).get(o)) for s, o in problem.pinned)
    levels = [
        (np.concatenate([zeros_x, np.ones(len(z_student))]), int(complete.sum())),
        (
            np.concatenate([zeros_x, z_below]),
            int((complete & problem.below_target).sum()),
        ),
        (
            np.concatenate([problem.weight[students].astype(np.float64), zeros_z]),
            pinned_weight,
        ),
        (np.concatenate([-problem.arc_cost.astype(np.float64), zeros_z]), -pinned_cost),
    ]
    return _Model(
        n_cols=n_cols,
        n_x=n_x,
        z_student=z_student,
        row_upper=np.concatenate(upper).astype(np.float64),
        col_start=col_start,
        row_index=row[order].astype(np.int32),
        values=val[order].astype(np.float64),
        levels=levels,
    )


def evaluate(problem: Problem, x: npt.NDArray[np.bool_]) -> Objective:
    """The objective vector of an arc selection, computed here from the MIP's own definitions."""
    students = problem.arc_student[x]
    groups = problem.arc_group[x]
    l1 = problem.has_l1.copy()
    l23 = problem.has_l23.copy()
    l1[students[groups == L1]] = True
    l23[students[groups == L23]] = True
    pairs = l1 & l23
    rules = problem.instance.rules
    pinned_weight = sum(int(problem.weight[s]) for s, _ in problem.pinned)
    pinned_cost = sum(rules.rank_cost(problem.ranked.get(s, {}).get(o)) for s, o in problem.pinned)
    return (
        int(pairs.sum()),
        int((pairs & problem.below_target).sum()),
        pinned_weight + int(problem.weight[students].sum()),
        -(pinned_cost + int(problem.arc_cost[x].sum())),
    )


def _new_highs(seed: int) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", seed)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    return h


@dataclass(frozen=True)
class _Run:
    status: str
    proven: bool
    solution: FloatArray | None  # feasible for every row, checked here
    bound: float | None
    gap: float | None


def _violation(
    model: _Model,
    level_rows: list[tuple[npt.NDArray[np.int32], FloatArray, float]],
    col: FloatArray,
) -> float:
    """The largest violation of a row or a bound by a column vector (0 if feasible)."""
    activity = np.zeros(len(model.row_upper))
    per_col = np.repeat(col, np.diff(model.col_start))
    np.add.at(activity, model.row_index, model.values * per_col)
    worst = max(0.0, float((activity - model.row_upper).max(initial=0.0)))
    for cols, coef, lower in level_rows:
        worst = max(worst, lower - float(coef @ col[cols]))
    integral = float(np.abs(col - np.round(col)).max(initial=0.0))
    outside = max(float(-col.min(initial=0.0)), float(col.max(initial=0.0) - 1))
    return max(worst, integral, outside)


def _run_level(
    h: highspy.Highs,
    model: _Model,
    level_rows: list[tuple[npt.NDArray[np.int32], FloatArray, float]],
    coef: FloatArray,
    known: float,
    deadline: float,
) -> _Run:
    """One level. A result that cannot be right is re-solved once without presolve.

    With HiGHS 1.16 presolve sometimes declares these models infeasible although the previous
    level's solution is feasible for them (seed 85 of the cross-check's `contested(85, 60, 40)`
    with tie-break 1 shows it). Any such impossible answer (infeasible, an optimum below a
    known feasible value, a solution that breaks a row or does not have the value claimed)
    is re-solved with presolve off, and reported as such.
    """
    notes: list[str] = []
    for presolve in ("on", "off"):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return _Run("time limit" + "".join(notes), False, None, None, None)
        h.setOptionValue("presolve", presolve)
        h.setOptionValue("time_limit", float(remaining))
        h.run()
        info = h.getInfo()
        status = h.getModelStatus()
        label = h.modelStatusToString(status)
        solution: FloatArray | None = None
        if info.primal_solution_status == highspy.kSolutionStatusFeasible:
            solution = np.asarray(h.getSolution().col_value, dtype=np.float64)
            if _violation(model, level_rows, solution) > 1e-6:
                notes.append(f"; presolve {presolve}: solution breaks a row")
                continue
            solution = np.round(solution)
        bound = float(info.mip_dual_bound) if abs(info.mip_dual_bound) < highspy.kHighsInf else None
        if status == highspy.HighsModelStatus.kOptimal and solution is not None:
            value = float(coef @ solution)
            if value >= known - 0.5 and abs(value - info.objective_function_value) < 0.5:
                return _Run(label + "".join(notes), True, solution, bound, 0.0)
            notes.append(
                f"; presolve {presolve}: claimed optimum {info.objective_function_value:g}, "
                f"solution has {value:g}, a feasible {known:g} is known"
            )
            continue
        if status == highspy.HighsModelStatus.kTimeLimit:
            gap = float(info.mip_gap) if solution is not None else None
            return _Run(label + "".join(notes), False, solution, bound, gap)
        notes.append(f"; presolve {presolve}: {label}")
    h.setOptionValue("presolve", "on")
    return _Run("no trustworthy answer" + "".join(notes), False, None, None, None)


def solve_mip(problem: Problem, time_limit_s: float, seed: int = 0) -> MipResult:
    """Maximise the four levels in turn; `time_limit_s` bounds HiGHS's runs, all levels
    together (building the model is not counted; it is reported in `build_seconds`)."""
    started = time.perf_counter()
    model = _build(problem)
    n_rows = len(model.row_upper)
    nnz = len(model.values)
    h = _new_highs(seed)
    status = h.passModel(
        model.n_cols,
        n_rows,
        nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMaximize),
        0.0,
        np.zeros(model.n_cols),
        np.zeros(model.n_cols),
        np.ones(model.n_cols),
        np.full(n_rows, -highspy.kHighsInf),
        model.row_upper,
        model.col_start,
        model.row_index,
        model.values,
        np.full(model.n_cols, int(highspy.HighsVarType.kInteger), dtype=np.int32),
    )
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS rejected the model: {status}")
    build_seconds = time.perf_counter() - started
    deadline = time.perf_counter() + time_limit_s
    all_cols = np.arange(model.n_cols, dtype=np.int32)
    level_rows: list[tuple[npt.NDArray[np.int32], FloatArray, float]] = []
    reports: list[LevelReport] = []
    stopped: int | None = None
    stopped_gap: float | None = None
    current: FloatArray | None = None  # the best solution so far: feasible for every row
    for k, (coef, constant) in enumerate(model.levels, 1):
        level_started = time.perf_counter()
        if not coef.any():
            reports.append(LevelReport(k, "constant", constant, float(constant), 0.0, 0.0))
            continue
        h.changeColsCost(model.n_cols, all_cols, coef)
        # A value every optimum reaches: the previous level's solution is feasible here.
        known = float(coef @ current) if current is not None else 0.0
        run = _run_level(h, model, level_rows, coef, known, deadline)
        if run.solution is not None and (current is None or coef @ run.solution >= known):
            current = run.solution
        value = round(float(coef @ current)) + constant if current is not None else None
        reports.append(
            LevelReport(
                k,
                run.status,
                value,
                run.bound + constant if run.bound is not None else None,
                0.0 if run.proven else run.gap,
                time.perf_counter() - level_started,
            )
        )
        if not run.proven or value is None:
            stopped = k
            stopped_gap = run.gap
            break
        row_coef = coef.nonzero()[0].astype(np.int32)
        level_rows.append((row_coef, coef[row_coef], value - constant - 0.5))
        h.addRow(level_rows[-1][2], highspy.kHighsInf, len(row_coef), row_coef, coef[row_coef])
    x = (
        current[: model.n_x] > 0.5
        if current is not None
        else np.zeros(problem.n_arcs, dtype=np.bool_)
    )
    arcs = np.flatnonzero(x)
    pairs = sorted(
        list(problem.pinned)
        + list(
            zip(problem.arc_student[arcs].tolist(), problem.arc_offer[arcs].tolist(), strict=True)
        )
    )
    return MipResult(
        objective=evaluate(problem, x) if current is not None or stopped is None else None,
        pairs=pairs,
        optimal=stopped is None,
        seconds=time.perf_counter() - started,
        build_seconds=build_seconds,
        levels=reports,
        stopped_at_level=stopped,
        gap=stopped_gap,
        n_cols=model.n_cols,
        n_rows=n_rows,
        n_nonzeros=nnz,
    )

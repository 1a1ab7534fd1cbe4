"""The engine side by side with naive CP-SAT, a HiGHS MIP and PyPI deferred acceptance.

    python -m benchmarks.run [--sizes 500,10000,150000] [--seed 1] [--out benchmarks/results]

For each size one instance is generated (`services.generator.generate`) and saved as JSON;
every method then runs in its own child process, which loads the instance, runs the method
and reports. Peak memory is the child's VmHWM (so each method's peak is its own, instance
included); wall time is the method's own time after the instance is loaded, and the child's
whole life is reported beside it. Results go to `<out>/results-<N>.json`; the table in
`benchmarks/README.md` is regenerated from every results file in `<out>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.proc import run_measured, vm_hwm_kib

ROOT = Path(__file__).resolve().parent.parent
README = Path(__file__).resolve().parent / "README.md"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SCHOOLS = {500: 1, 10_000: 40, 150_000: 450}
OPTIMAL_RUNS = 3
CPSAT_LIMIT_S = 60.0
HIGHS_LIMIT_S = 120.0
# A child process is killed when it runs this long, whatever its own time limit says.
PROCESS_CAP_S = {
    "generate": 1800.0,
    "optimal": 900.0,
    "stable": 900.0,
    "cpsat": 600.0,
    "highs": 600.0,
    "da": 600.0,
}
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
INSTANCE_FACTS = ("students", "offers", "places", "preferences", "pinned", "forbidden")

Json = dict[str, Any]


def schools_for(students: int) -> int:
    return SCHOOLS.get(students, max(1, round(students / 333)))


# --------------------------------------------------------------------------- child processes


def _worker(args: argparse.Namespace) -> Json:
    """Runs in the child: one method on the saved instance."""
    if args.worker == "generate":
        from services.generator import generate

        started = time.perf_counter()
        inst = generate(students=args.students, schools=args.schools, seed=args.seed)
        seconds = time.perf_counter() - started
        Path(args.instance).write_text(inst.model_dump_json())
        return {
            "generate_seconds": round(seconds, 3),
            "students": len(inst.students),
            "offers": len(inst.offers),
            "places": sum(o.capacity for o in inst.offers),
            "preferences": len(inst.preferences),
            "pinned": len(inst.pinned),
            "forbidden": len(inst.forbidden),
        }

    from matching.metrics import summarise
    from matching.problem import Problem, build_problem
    from schemas import Instance

    started = time.perf_counter()
    instance = Instance.model_validate_json(Path(args.instance).read_text())
    load_seconds = time.perf_counter() - started
    after_load_kib = vm_hwm_kib()
    seed = args.seed
    out: Json = {
        "load_seconds": round(load_seconds, 3),
        "after_load_kib": after_load_kib,
        "engine_digest": engine_digest(),
    }

    def finish(
        problem: Problem, pairs: list[tuple[int, int]], method_seconds: float, found: bool = True
    ) -> None:
        out["peak_kib"] = vm_hwm_kib()  # before the quality columns are computed
        out["method_seconds"] = round(method_seconds, 3)
        # No allocation at all: quality columns would describe the empty allocation.
        out["quality"] = summarise(problem, pairs, seed) if found else None
        out["arcs"] = problem.n_arcs

    if args.worker in ("optimal", "stable"):
        from matching import solve, validate_result
        from matching.collector import collection_paused
        from schemas import SolveOptions

        marks: list[tuple[float, str]] = []

        def progress(stage: str, fraction: float) -> None:
            if not marks or marks[-1][1] != stage:
                marks.append((time.perf_counter(), stage))

        t0 = time.perf_counter()
        result = solve(instance, SolveOptions(mode=args.worker, seed=seed), progress)
        solve_seconds = time.perf_counter() - t0
        peak = vm_hwm_kib()
        # Timed again on its own, as `solve` runs it: with the cyclic collector paused.
        with collection_paused():
            t1 = time.perf_counter()
            validate_result(instance, result)
            validate_seconds = time.perf_counter() - t1
        problem = build_problem(instance, seed)
        pairs = [
            (problem.student_index[a.student_id], problem.offer_index[a.offer_id])
            for a in result.allocations
        ]
        finish(problem, pairs, solve_seconds)
        out["peak_kib"] = peak
        m = result.metrics
        out.update(
            solve_seconds=round(solve_seconds, 3),
            objective=list(m.objective),
            bound=list(m.bound),
            proven=m.proven_optimal,
            method=m.method,
            stages=_stages(t0, marks, t0 + solve_seconds, validate_seconds),
        )
        return out

    problem = build_problem(instance, seed)
    if args.worker == "cpsat":
        from benchmarks.naive_cpsat import solve_naive

        t0 = time.perf_counter()
        cp = solve_naive(problem, args.time_limit, seed)
        finish(problem, cp.pairs, time.perf_counter() - t0, cp.objective is not None)
        out.update(
            objective=list(cp.objective) if cp.objective else None,
            proven=cp.proven,
            status=cp.status,
            gap=cp.gap,
            weighted_objective=cp.weighted_objective,
            weighted_bound=cp.weighted_bound,
            levels_in_objective=cp.levels_in_objective,
            build_seconds=round(cp.build_seconds, 3),
            solver_seconds=round(cp.solve_seconds, 3),
            n_vars=cp.n_vars,
            n_constraints=cp.n_constraints,
        )
    elif args.worker == "highs":
        from benchmarks.highs_mip import solve_mip

        t0 = time.perf_counter()
        mip = solve_mip(problem, args.time_limit, seed)
        finish(problem, mip.pairs, time.perf_counter() - t0, mip.objective is not None)
        out.update(
            objective=list(mip.objective) if mip.objective else None,
            proven=mip.optimal,
            stopped_at_level=mip.stopped_at_level,
            gap=mip.gap,
            build_seconds=round(mip.build_seconds, 3),
            levels=[vars(level) for level in mip.levels],
            size={"cols": mip.n_cols, "rows": mip.n_rows, "nonzeros": mip.n_nonzeros},
        )
    elif args.worker == "da":
        from benchmarks.da_pypi import run_da
        from matching.objective import objective

        t0 = time.perf_counter()
        da = run_da(problem, seed, args.time_limit, skip_input_checks=args.skip_checks)
        finish(problem, da.pairs, time.perf_counter() - t0, da.status == "ok")
        out["peak_kib"] = da.peak_kib  # the package runs in its own process
        out.update(
            status=da.status,
            mode=da.mode,
            version=da.version,
            proven=False,
            objective=list(objective(problem, da.pairs)) if da.status == "ok" else None,
            setup_seconds=round(da.setup_seconds, 3),
            package_seconds=round(da.solve_seconds, 3),
            dropped_for_clash=da.dropped_for_clash,
            per_group=da.per_group,
        )
    return out


def _stages(
    t0: float, marks: list[tuple[float, str]], end: float, validate_seconds: float
) -> dict[str, float]:
    """Seconds per stage of `solve`, from its progress reports.

    Validation runs inside the last stage ("explanations"); it is timed again on its own and
    split out.
    """
    out: dict[str, float] = {}
    if marks:
        out["before first report"] = round(marks[0][0] - t0, 3)
    bounds = [*marks, (end, "end")]
    for (t, stage), (t_next, _) in itertools.pairwise(bounds):
        name = {"eligibility": "build_problem"}.get(stage, stage)
        if name.startswith("clash repair pass"):
            name = "clash repair"
        out[name] = round(out.get(name, 0.0) + t_next - t, 3)
    if "explanations" in out:
        out["explanations + metrics"] = round(out.pop("explanations") - validate_seconds, 3)
        out["validation"] = round(validate_seconds, 3)
    out.pop("done", None)
    return out


# --------------------------------------------------------------------------- the parent


def _child(
    console: Console,
    label: str,
    worker: str,
    extra: list[str],
    workdir: Path,
    cap_s: float,
) -> Json:
    result_path = workdir / f"{label}.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--worker",
        worker,
        "--result",
        str(result_path),
        *extra,
    ]
    with console.status(f"{label} …") as status:

        def tick(elapsed: float, peak_kib: int) -> None:
            status.update(f"{label}: {elapsed:,.0f} s, peak {peak_kib / 1024:,.0f} MiB")

        run = run_measured(cmd, cap_s, workdir / f"{label}.log", cwd=ROOT, tick=tick)
    if run.timed_out:
        console.log(f"[yellow]{label}: killed after {run.seconds:,.0f} s (cap {cap_s:,.0f} s)")
        return {
            "status": f"did not finish: killed at the {cap_s:.0f} s cap",
            "process_seconds": round(run.seconds, 1),
            "peak_kib": run.peak_kib,
            "proven": False,
        }
    if run.returncode != 0 or not result_path.exists():
        console.log(f"[red]{label}: failed (exit {run.returncode})\n{run.log[-3000:]}")
        return {
            "status": f"failed (exit {run.returncode})",
            "log": run.log[-3000:],
            "process_seconds": round(run.seconds, 1),
            "peak_kib": run.peak_kib,
            "proven": False,
        }
    out: Json = json.loads(result_path.read_text())
    out["process_seconds"] = round(run.seconds, 2)
    out["process_peak_kib"] = run.peak_kib
    return out


def _describe(name: str, r: Json) -> str:
    q = r.get("quality") or {}
    secs = r.get("solve_seconds", r.get("method_seconds"))
    return (
        f"{name}: {r.get('status', 'ok')}, proven={r.get('proven')}, "
        f"{secs if secs is not None else '-'} s, peak {r.get('peak_kib', 0) / 1024:,.0f} MiB, "
        f"matched {q.get('students_matched', '-')}, objective {r.get('objective')}"
    )


def run_size(
    console: Console,
    n: int,
    seed: int,
    out_dir: Path,
    methods: list[str],
    da_timeout: float,
    da_mode: str = "auto",
    merge: bool = False,
) -> Json:
    schools = schools_for(n)
    console.rule(f"{n:,} students, {schools} schools, seed {seed}")
    path = out_dir / f"results-{n}.json"
    report: Json = {
        "students": n,
        "schools": schools,
        "seed": seed,
        "methods": {},
        "environment": _environment(),
    }
    previous: Json | None = None
    if merge and path.exists():
        previous = json.loads(path.read_text())
        if previous.get("seed") != seed:
            raise SystemExit(f"{path} holds seed {previous.get('seed')}, not {seed}")
    with tempfile.TemporaryDirectory(prefix=f"bench-{n}-") as tmp:
        work = Path(tmp)
        inst = work / "instance.json"
        common = ["--instance", str(inst), "--seed", str(seed)]
        gen = _child(
            console,
            "generate",
            "generate",
            [*common, "--students", str(n), "--schools", str(schools)],
            work,
            PROCESS_CAP_S["generate"],
        )
        if "students" not in gen:
            raise SystemExit(f"generating the instance failed: {gen}")
        report["instance"] = gen
        if previous is not None:
            same = all(previous["instance"].get(k) == gen[k] for k in INSTANCE_FACTS)
            if not same:
                console.log("[yellow]the regenerated instance differs from the one on record")
        console.log(
            f"instance: {gen['offers']:,} offers, {gen['places']:,} places, "
            f"generated in {gen['generate_seconds']} s"
        )
        results: Json = report["methods"]
        if "optimal" in methods:
            runs = []
            for i in range(OPTIMAL_RUNS):
                r = _child(
                    console, f"optimal-{i + 1}", "optimal", common, work, PROCESS_CAP_S["optimal"]
                )
                console.log(_describe(f"optimal run {i + 1}", r))
                runs.append(r)
            done = [r for r in runs if "solve_seconds" in r]
            if done:
                by_time = sorted(done, key=lambda r: r["solve_seconds"])
                median = dict(by_time[len(by_time) // 2])
                median["solve_seconds_runs"] = [r["solve_seconds"] for r in done]
                median["solve_seconds"] = statistics.median(median["solve_seconds_runs"])
                median["peak_kib"] = max(r["peak_kib"] for r in done)
                results["optimal"] = median
            else:
                results["optimal"] = runs[0]
        for method, label, extra in (
            ("stable", "stable", []),
            ("cpsat", "naive CP-SAT", ["--time-limit", str(CPSAT_LIMIT_S)]),
            ("highs", "HiGHS MIP", ["--time-limit", str(HIGHS_LIMIT_S)]),
        ):
            if method in methods:
                results[method] = _child(
                    console, method, method, [*common, *extra], work, PROCESS_CAP_S[method]
                )
                console.log(_describe(label, results[method]))
        if "da" in methods:
            da_args = [*common, "--time-limit", str(da_timeout)]
            r = {"status": "not run"}
            if da_mode in ("auto", "api"):
                r = _child(console, "da", "da", da_args, work, da_timeout + 300)
                console.log(_describe("PyPI deferred acceptance", r))
            if da_mode == "algorithm" or (da_mode == "auto" and r.get("status") != "ok"):
                # The public API did not finish: run the package's algorithm without its checks.
                if da_mode == "auto":
                    results["da_api"] = r
                r = _child(
                    console,
                    "da-algorithm",
                    "da",
                    [*da_args, "--skip-checks"],
                    work,
                    da_timeout + 300,
                )
                console.log(_describe("PyPI deferred acceptance (algorithm only)", r))
            results["da"] = r
    report["environment"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if engine_digest() != report["environment"]["engine_digest"]:
        report["engine_changed_during_run"] = True
        console.log("[yellow]the engine's source changed during this run: results are mixed")
    if previous is not None:
        # Keep what was measured before for the methods not run now, and say what was re-run.
        rerun = {
            "methods": sorted(report["methods"]),
            "engine_digest": report["environment"]["engine_digest"],
            "instance_same_as_recorded": all(
                previous["instance"].get(k) == report["instance"][k] for k in INSTANCE_FACTS
            ),
            "engine_changed_during_run": bool(report.get("engine_changed_during_run")),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "load_average_at_start": report["environment"]["load_average_at_start"],
            "load_average_at_end": report["environment"]["load_average_at_end"],
        }
        for entry in report["methods"].values():
            entry["rerun"] = {"instance": report["instance"], **rerun}
        previous["methods"].update(report["methods"])
        previous.setdefault("reruns", []).append(rerun)
        report = previous
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.log(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return report


def engine_digest() -> str:
    """A digest of the engine's source, so a result can be traced to the code that made it."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "matching").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _environment() -> Json:
    import highspy
    import numpy
    import ortools

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": _cpus(),
        "ortools": str(getattr(ortools, "__version__", "?")),
        "highspy": f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}."
        f"{highspy.HIGHS_VERSION_PATCH}",
        "numpy": numpy.__version__,
        "engine_digest": engine_digest(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------- the README table

LABELS = {
    "optimal": "engine, optimal",
    "stable": "engine, stable (DA)",
    "cpsat": "naive CP-SAT, 2 workers, 60 s",
    "highs": "HiGHS MIP, lexicographic, 120 s",
    "da": "PyPI `matching` DA",
}


def _fmt_status(key: str, r: Json) -> str:
    status = str(r.get("status", "ok"))
    if status.startswith(("did not finish", "failed")):
        return status
    if key == "stable":
        return "stable, not optimal"
    if key == "da":
        return "stable, not optimal" + (" (algorithm only)" if r.get("mode") != "api" else "")
    if r.get("proven"):
        return "proven optimal"
    if key == "optimal":
        return f"gap to bound {r.get('bound')}"
    if key == "cpsat":
        gap = r.get("gap")
        return f"{status}, gap {gap:.2%}" if gap is not None else status
    if key == "highs":
        level = r.get("stopped_at_level")
        gap = r.get("gap")
        tail = f", gap {gap:.2%}" if gap is not None else ""
        return f"time limit: level {level} not proven{tail}"
    return status


def _num(value: Any, fmt: str = "{:,}") -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float) and value != value:
        return "–"
    return fmt.format(value)


def _row(n: int, key: str, r: Json) -> str:
    q = r.get("quality") or {}
    secs = r.get("solve_seconds", r.get("method_seconds"))
    if key == "optimal" and "solve_seconds_runs" in r:
        secs_text = f"{secs:.2f} (median of {len(r['solve_seconds_runs'])})"
    else:
        secs_text = _num(secs, "{:.2f}")
    return (
        "| "
        + " | ".join(
            [
                f"{n:,}",
                LABELS.get(key, key),
                _fmt_status(key, r),
                secs_text,
                _num(r.get("process_seconds"), "{:.1f}"),
                _num(r.get("peak_kib", 0) / 1024 if r.get("peak_kib") else None, "{:,.0f}"),
                _num(q.get("students_matched")),
                _num(q.get("b8_coverage_pct"), "{:.2f}"),
                _num(q.get("lowest_school_coverage_pct"), "{:.2f}"),
                _num(q.get("mean_rank"), "{:.3f}"),
                _num(q.get("first_choice_share"), "{:.3f}"),
                _num(q.get("blocking_pairs")),
                "`" + str(r["objective"]) + "`" if r.get("objective") else "–",
            ]
        )
        + " |"
    )


def _targets(reports: list[Json]) -> list[str]:
    by_n = {r["students"]: r["methods"] for r in reports}
    lines = []

    def verdict(ok: bool | None) -> str:
        return {True: "**met**", False: "**not met**", None: "not measured"}[ok]

    m10 = by_n.get(10_000, {}).get("optimal")
    ok10 = None if m10 is None else bool(m10.get("proven")) and m10["solve_seconds"] <= 2.0
    detail10 = (
        f"proven={m10.get('proven')}, median solve {m10.get('solve_seconds')} s" if m10 else ""
    )
    lines.append(
        f"- 10,000 students proven optimal in ≤ 2 s solve time: {verdict(ok10)}"
        + (f" ({detail10})" if detail10 else "")
    )
    m150 = by_n.get(150_000, {}).get("optimal")
    ok150 = None
    detail150 = ""
    if m150 is not None and "solve_seconds" in m150:
        gib = m150["peak_kib"] / 1024**2
        ok150 = bool(m150.get("proven")) and m150["solve_seconds"] <= 60 and gib <= 4
        detail150 = (
            f"proven={m150.get('proven')}, median solve {m150['solve_seconds']} s, "
            f"peak {gib:.2f} GiB"
        )
    elif m150 is not None:
        ok150 = False
        detail150 = m150.get("status", "")
    lines.append(
        f"- 150,000 students proven optimal in ≤ 60 s within 4 GiB: {verdict(ok150)}"
        + (f" ({detail150})" if detail150 else "")
    )
    parts = []
    oks = []
    for n, methods in sorted(by_n.items()):
        ours, da = methods.get("optimal"), methods.get("da")
        if ours and da and ours.get("quality") and da.get("quality"):
            a = ours["quality"]["students_matched"]
            b = da["quality"]["students_matched"]
            oks.append(a >= b)
            parts.append(f"{n:,}: {a:,} vs {b:,}")
    lines.append(
        "- students matched ≥ PyPI deferred acceptance: "
        + verdict(all(oks) if oks else None)
        + _details(parts)
    )
    parts = []
    oks = []
    for n, methods in sorted(by_n.items()):
        ours, mip = methods.get("optimal"), methods.get("highs")
        if ours and mip:
            if mip.get("proven"):
                same = ours.get("objective") == mip.get("objective")
                oks.append(same)
                parts.append(f"{n:,}: {'same' if same else 'DIFFERENT'} optimum")
            else:
                parts.append(f"{n:,}: HiGHS did not finish")
    lines.append(
        "- same optimum as HiGHS where HiGHS finishes: "
        + verdict(all(oks) if oks else None)
        + _details(parts)
    )
    return lines


def _details(parts: list[str]) -> str:
    return f" ({'; '.join(parts)})" if parts else ""


def _stage_lines(reports: list[Json]) -> list[str]:
    lines = []
    for r in reports:
        ours = r["methods"].get("optimal") or {}
        stages = ours.get("stages")
        if stages:
            parts = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
            lines.append(f"- {r['students']:,}: {parts} (seconds; {ours.get('method')})")
    return lines


def render(out_dir: Path) -> str:
    reports = sorted(
        (json.loads(p.read_text()) for p in out_dir.glob("results-*.json")),
        key=lambda r: r["students"],
    )
    if not reports:
        return "No results yet."
    env = reports[-1]["environment"]
    head = [
        f"Machine: {env['cpus']} CPUs, Python {env['python']}, OR-Tools {env['ortools']}, "
        f"HiGHS {env['highspy']}. Seed {reports[-1]['seed']}; instances from "
        "`services.generator.generate` (1 school at 500 students, 40 at 10,000, "
        "450 at 150,000). Engine source digest per size: "
        + ", ".join(
            f"{r['students']:,}: `{r['environment'].get('engine_digest', '?')}`"
            + (" (changed during the run)" if r.get("engine_changed_during_run") else "")
            + "".join(  # the last re-run only: every one is in the results file
                f" (re-run last: {', '.join(x['methods'])} with `{x['engine_digest']}`"
                + ("" if x["instance_same_as_recorded"] else ", on a regenerated instance")
                + (
                    f", {x['finished_at'][:10]}, load average {x['load_average_at_start'][0]}"
                    f" / {x['load_average_at_end'][0]}"
                    if "finished_at" in x
                    else ""
                )
                + f"; {len(r['reruns'])} re-runs in all)"
                for x in r.get("reruns", [])[-1:]
            )
            for r in reports
        )
        + ". Load average (1 min) at the start and end of each size's first run, as other "
        "work shared the machine: "
        + ", ".join(
            f"{r['students']:,}: {r['environment'].get('load_average_at_start', ['?'])[0]}"
            f" / {r['environment'].get('load_average_at_end', ['?'])[0]}"
            for r in reports
        )
        + ".",
        "",
        "| students | method | optimality | method s | process s | peak MiB | matched | "
        "B8 % | lowest school % | mean rank | 1st choice | blocking pairs | objective |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = []
    for r in reports:
        for key in ("optimal", "stable", "cpsat", "highs", "da_api", "da"):
            if key in r["methods"]:
                label = "da" if key == "da_api" else key
                row = _row(r["students"], label, r["methods"][key])
                if key == "da_api":
                    row = row.replace(LABELS["da"], LABELS["da"] + " (public API)")
                if r["methods"][key].get("rerun"):
                    row = row.replace(LABELS[label], "† " + LABELS[label], 1)
                rows.append(row)
    lines = [*head, *rows]
    if any(m.get("rerun") for r in reports for m in r["methods"].values()):
        lines += [
            "",
            "† measured in a later partial re-run (see `reruns` in the results file): the engine "
            "or the generator had changed, so these rows may be on a regenerated instance.",
        ]
    lines += ["", "Targets:", "", *_targets(reports)]
    stages = _stage_lines(reports)
    if stages:
        lines += ["", "Where the engine's solve time goes (median run):", "", *stages]
    return "\n".join(lines)


def write_readme(out_dir: Path) -> None:
    """Regenerate the table in benchmarks/README.md; results kept elsewhere get their own file."""
    if out_dir.resolve() != DEFAULT_OUT:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "table.md").write_text(render(out_dir) + "\n")
        return
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    README.write_text(f"{before}{BEGIN}\n{render(out_dir)}\n{END}{after}")


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="500,10000,150000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--methods",
        default="optimal,stable,cpsat,highs,da",
        help="comma-separated subset of optimal,stable,cpsat,highs,da",
    )
    parser.add_argument(
        "--da-timeout",
        type=float,
        default=600.0,
        help="seconds the PyPI package may take before it is stopped",
    )
    parser.add_argument(
        "--da-mode",
        choices=("auto", "api", "algorithm"),
        default="auto",
        help="auto: the package's public API, then its algorithm alone if the API does not finish",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the recorded results of the methods not run now (a partial re-run)",
    )
    parser.add_argument(
        "--readme-only",
        action="store_true",
        help="only regenerate the README table from existing results",
    )
    # used by the child processes
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--students", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--schools", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--time-limit", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--skip-checks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        Path(args.result).write_text(json.dumps(_worker(args)))
        return
    out_dir: Path = args.out
    if not args.readme_only:
        console = Console(stderr=True)
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        for n in (int(s) for s in args.sizes.split(",")):
            run_size(
                console, n, args.seed, out_dir, methods, args.da_timeout, args.da_mode, args.merge
            )
            write_readme(out_dir)
    write_readme(out_dir)


if __name__ == "__main__":
    main()

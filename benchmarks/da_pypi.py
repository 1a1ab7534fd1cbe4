"""Deferred acceptance from the PyPI package `matching` (HospitalResident, student-optimal).

The package's import name is the same as the engine's, so it lives in its own virtual
environment (`benchmarks/.venv-da`, created on first use) and runs in a child process started
in isolated mode (`-I`), so the project's own `matching` cannot shadow it.

Per level group we export each student's candidate offers in order (ranked offers by rank,
then interest matches), each offer's places, and each offer's preference over its applicants:
the seeded lottery stable mode uses (`matching.stable.lottery`). The package matches each group
on its own; afterwards an allocation in a later group that overlaps in time with one the
student holds from an earlier group is dropped (groups in the order stable mode uses: L2/L3,
L1, FE visit, FE interaction).

The package's public API checks its inputs in time proportional to offers x students; with
`skip_input_checks` the runner calls the package's own algorithm function directly on the
players it builds, which is the same deferred acceptance without the checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.proc import run_measured
from matching.problem import FE_INTERACTION, FE_VISIT, GROUPS, L1, L23, Problem
from matching.stable import lottery

PACKAGE = "matching==1.4.3"
# The order groups are matched in, as in stable mode: the scarcest first.
KEEP_ORDER = (L23, L1, FE_VISIT, FE_INTERACTION)
VENV = Path(__file__).resolve().parent / ".venv-da"

RUNNER = r"""
import json, sys, threading, time, warnings
warnings.simplefilter("ignore")
import matching
from matching.games import HospitalResident
from matching.games.hospital_resident import _make_players
from matching.algorithms.hospital_resident import hospital_resident

def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0

def main():
    src, dst, mode = sys.argv[1:4]
    with open(src) as f:
        data = json.load(f)
    out = {"version": matching.__version__, "mode": mode, "groups": []}
    for g in data["groups"]:
        t0 = time.perf_counter()
        if mode == "api":
            game = HospitalResident.create_from_dictionaries(
                g["residents"], g["hospitals"], g["capacities"]
            )
            t1 = time.perf_counter()
            result = game.solve(optimal="resident")
        else:
            residents, hospitals = _make_players(g["residents"], g["hospitals"], g["capacities"])
            t1 = time.perf_counter()
            result = hospital_resident(residents, hospitals, "resident")
        t2 = time.perf_counter()
        pairs = [[r.name, h.name] for h, rs in result.items() for r in rs]
        out["groups"].append(
            {"group": g["group"], "setup_seconds": t1 - t0, "solve_seconds": t2 - t1,
             "pairs": pairs}
        )
        print(f"group {g['group']}: {len(pairs)} pairs, setup {t1 - t0:.1f} s, "
              f"solve {t2 - t1:.1f} s", file=sys.stderr, flush=True)
    out["peak_kib"] = peak_kib()
    with open(dst, "w") as f:
        json.dump(out, f)

# The API deep-copies its players, which point at each other: the copy recurses once per
# link, deeper than Python's default limit from a few thousand students on. Run it in a
# thread with a large stack and a high recursion limit.
sys.setrecursionlimit(10_000_000)
threading.stack_size(2**31 - 2**20)
worker = threading.Thread(target=main)
worker.start()
worker.join()
"""


@dataclass(frozen=True)
class DaResult:
    status: str  # "ok", or why there is no matching
    pairs: list[tuple[int, int]]  # (student, offer), pins included
    dropped_for_clash: int
    setup_seconds: float  # the package building (and, with its API, checking) its players
    solve_seconds: float  # the package's deferred acceptance
    seconds: float  # everything: export, child process, read-back
    peak_kib: int  # of the child process running the package
    mode: str  # "api" or "algorithm only"
    version: str = ""
    per_group: list[dict[str, float | int | str]] = field(default_factory=list)


def ensure_venv(venv: Path = VENV) -> Path:
    """The virtual environment's python, creating it and installing the package if needed."""
    python = venv / "bin" / "python"
    probe = [str(python), "-I", "-c", "import matching.games"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PACKAGE],
        check=True,
    )
    return python


def export(problem: Problem, seed: int) -> dict[str, Any]:
    """Per level group: student lists, offer places and offer preferences, as JSON."""
    key = lottery(problem, seed)
    groups: list[dict[str, Any]] = []
    for g in KEEP_ORDER:
        arcs = np.flatnonzero(problem.arc_group == g)
        rank = problem.arc_rank[arcs]
        order = np.lexsort((arcs, np.where(rank == 0, 10_000, rank), problem.arc_student[arcs]))
        residents: dict[str, list[str]] = {}
        applicants: dict[int, list[int]] = {}
        for a in arcs[order].tolist():
            s, o = int(problem.arc_student[a]), int(problem.arc_offer[a])
            residents.setdefault(str(s), []).append(str(o))
            applicants.setdefault(o, []).append(s)
        hospitals = {
            str(o): [str(s) for s in sorted(ss, key=lambda s: int(key[s]))]
            for o, ss in applicants.items()
        }
        capacities = {str(o): int(problem.capacity[o]) for o in applicants}
        groups.append(
            {
                "group": GROUPS[g].value,
                "residents": residents,
                "hospitals": hospitals,
                "capacities": capacities,
            }
        )
    return {"groups": groups}


def run_da(
    problem: Problem,
    seed: int,
    timeout_s: float,
    skip_input_checks: bool = False,
    venv: Path = VENV,
) -> DaResult:
    started = time.perf_counter()
    mode = "algorithm only" if skip_input_checks else "api"
    python = ensure_venv(venv)
    with tempfile.TemporaryDirectory(prefix="da-") as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(export(problem, seed)))
        cmd = [str(python), "-I", "-W", "ignore", "-c", RUNNER, str(src), str(dst)]
        cmd.append("api" if not skip_input_checks else "algorithm")
        run = run_measured(cmd, timeout_s, Path(tmp) / "log.txt", cwd=Path(tmp))
        if run.timed_out or run.returncode != 0 or not dst.exists():
            why = (
                f"did not finish in {timeout_s:.0f} s"
                if run.timed_out
                else f"failed (exit {run.returncode}): {run.log[-500:]}"
            )
            return DaResult(
                why,
                list(problem.pinned),
                0,
                0.0,
                0.0,
                time.perf_counter() - started,
                run.peak_kib,
                mode,
                per_group=[{"log": run.log[-2000:]}],
            )
        out = json.loads(dst.read_text())
    by_group = {g["group"]: g for g in out["groups"]}
    held: dict[int, list[int]] = {}
    pairs = list(problem.pinned)
    dropped = 0
    for g in KEEP_ORDER:
        for s_name, o_name in by_group[GROUPS[g].value]["pairs"]:
            s, o = int(s_name), int(o_name)
            if any(problem.clash(o, h) for h in held.get(s, [])):
                dropped += 1
                continue
            held.setdefault(s, []).append(o)
            pairs.append((s, o))
    return DaResult(
        status="ok",
        pairs=sorted(pairs),
        dropped_for_clash=dropped,
        setup_seconds=sum(g["setup_seconds"] for g in out["groups"]),
        solve_seconds=sum(g["solve_seconds"] for g in out["groups"]),
        seconds=time.perf_counter() - started,
        peak_kib=max(int(out["peak_kib"]), run.peak_kib),
        mode=mode,
        version=str(out["version"]),
        per_group=[
            {
                "group": g["group"],
                "pairs": len(g["pairs"]),
                "setup_seconds": round(g["setup_seconds"], 3),
                "solve_seconds": round(g["solve_seconds"], 3),
            }
            for g in out["groups"]
        ],
    )

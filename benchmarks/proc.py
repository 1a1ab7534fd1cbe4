"""Run a child process with a time limit and record its peak memory (VmHWM) while it runs."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    returncode: int | None  # None when killed at the time limit
    seconds: float
    peak_kib: int  # the child's VmHWM, polled; the last value seen if it was killed
    timed_out: bool
    log: str  # stdout and stderr, interleaved


def scrub(text: str) -> str:
    """A log fit for a results file: this machine's own paths replaced by placeholders."""
    root = Path(__file__).resolve().parent.parent
    for path, name in (
        (str(root), "<project>"),
        (tempfile.gettempdir(), "<tmp>"),
        (sys.base_prefix, "<python>"),
        (str(Path.home()), "<home>"),
    ):
        text = text.replace(path, name)
    return text


def vm_hwm_kib(pid: int | str = "self") -> int:
    """Peak resident set size of a process, from /proc (0 if it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    cmd: Sequence[str],
    timeout_s: float,
    log_path: Path,
    cwd: Path | None = None,
    tick: Callable[[float, int], None] | None = None,
) -> Measured:
    """Run `cmd`, polling its peak memory; kill it (and report so) after `timeout_s`."""
    started = time.perf_counter()
    peak = 0
    timed_out = False
    with log_path.open("w") as log:
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        while child.poll() is None:
            peak = max(peak, vm_hwm_kib(child.pid))
            elapsed = time.perf_counter() - started
            if tick is not None:
                tick(elapsed, peak)
            if elapsed > timeout_s:
                timed_out = True
                child.kill()
                child.wait()
                break
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    return Measured(
        returncode=None if timed_out else child.returncode,
        seconds=seconds,
        peak_kib=peak,
        timed_out=timed_out,
        log=scrub(log_path.read_text(errors="replace")),
    )

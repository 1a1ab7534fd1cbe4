"""`placement up`, `worker`, `rounds` and `coverage` as a user runs them: real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.cli.main import main
from tests.services.conftest import eventually

PLACEMENT = "from services.cli.main import main; raise SystemExit(main())"


def _placement(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`placement ARGS` in `tmp_path` (so build/ lands there), with a clean environment."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env["WORKER_SESSION_TIMEOUT_S"] = "1"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["COLUMNS"] = "120"
    return subprocess.Popen(
        [sys.executable, "-c", PLACEMENT, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _broker_pid(output: str) -> int:
    match = re.search(r"tansu, pid (\d+)", output)
    assert match, output
    return int(match.group(1))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 90) -> str:
    """The output up to and including the first line containing `marker`."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    process.kill()
    pytest.fail(f"no {marker!r} in the output:\n{''.join(lines)}")


def test_up_demo_once_publishes_a_cluster_runs_a_round_prints_coverage_and_exits(
    tmp_path: Path,
) -> None:
    process = _placement(tmp_path, "up", "--demo", "--once", "--students", "300", "--schools", "2")
    output, _ = process.communicate(timeout=180)

    assert process.returncode == 0, output
    assert re.search(r"Ingested [\d,]+ students and offers", output), output
    assert re.search(r"Round demo-\S+: done in [\d.]+ s\. committed: \d+ allocations made", output)
    assert "Benchmark 8 (L1 + L2/L3 pair) and Benchmark 9 coverage" in output
    assert "sch-001" in output and "sch-002" in output
    assert (tmp_path / "build" / "demo.db").is_file()
    assert eventually(lambda: _gone(_broker_pid(output)), 10), "the broker outlived placement up"


@pytest.mark.parametrize("moment", ["while serving", "during the demo"])
def test_ctrl_c_stops_up_cleanly_and_leaves_no_broker_behind(tmp_path: Path, moment: str) -> None:
    if moment == "while serving":
        process = _placement(tmp_path, "up")
        output = _read_until(process, "Press Ctrl-C to stop")
    else:
        process = _placement(tmp_path, "up", "--demo", "--students", "300", "--schools", "2")
        output = _read_until(process, "Demo: 300 students")
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)

    assert process.returncode == 0, output + rest
    assert "Stopped: worker, broker and database closed." in rest
    assert "Traceback" not in rest
    assert eventually(lambda: _gone(_broker_pid(output)), 10), "the broker outlived placement up"


def test_worker_without_a_kafka_cluster_says_to_use_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert main(["worker"]) == 2
    assert "placement up" in capsys.readouterr().err


def test_rounds_status_of_an_unknown_round_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'placement.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 0
    assert main(["rounds", "status", "r-nope"]) == 2
    assert "no such round" in capsys.readouterr().err
    assert main(["rounds", "list"]) == 0
    assert "No rounds yet." in capsys.readouterr().out


def test_rounds_on_a_database_never_migrated_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["rounds", "list"]) == 2
    assert "placement migrate" in capsys.readouterr().err

"""The `placement` command, run in-process: a full round trip and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

import matching
from schemas import Instance, Result
from services.cli.main import main
from services.cli.report import print_summary


def _fails_cleanly(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run a command that must fail on its input: exit 2, one line on stderr, no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err.strip()


@pytest.fixture
def instance_file(tmp_path: Path) -> Path:
    path = tmp_path / "instance.json"
    assert (
        main(["generate", "--students", "150", "--schools", "3", "--seed", "2", "-o", str(path)])
        == 0
    )
    return path


def test_generate_solve_explain_and_schema_work_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_file = tmp_path / "in" / "instance.json"
    argv = ["generate", "--students", "150", "--schools", "3", "--seed", "2"]
    assert main([*argv, "-o", str(instance_file)]) == 0
    assert "150 students in 3 schools" in capsys.readouterr().out
    assert len(Instance.model_validate_json(instance_file.read_bytes()).students) == 150

    result_file = tmp_path / "out" / "result.json"
    assert main(["solve", str(instance_file), "-o", str(result_file), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    result = Result.model_validate_json(result_file.read_bytes())
    assert result.seed == 3 and result.metrics.students == 150
    for heading in ("Matched students", "Benchmark 8 coverage", "Benchmark 8 by school"):
        assert heading in out
    assert "First-choice share" in out and "Solve time" in out and result.metrics.method in out

    student = result.allocations[0].student_id
    assert main(["explain", str(result_file), student]) == 0
    out = capsys.readouterr().out
    assert f"Student {student}" in out and result.allocations[0].offer_id in out

    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert {"instance", "result", "offer"} <= set(schemas)
    assert main(["schema", "-o", str(tmp_path / "schemas")]) == 0
    written = {p.name for p in (tmp_path / "schemas").iterdir()}
    assert written == {f"{name}.json" for name in schemas}


def test_stable_mode_is_passed_to_the_engine(
    tmp_path: Path, instance_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result_file = tmp_path / "stable.json"
    assert main(["solve", str(instance_file), "--mode", "stable", "-o", str(result_file)]) == 0
    assert Result.model_validate_json(result_file.read_bytes()).mode == "stable"


def test_a_missing_file_is_reported_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    err = _fails_cleanly(capsys, ["solve", str(missing)])
    assert err == f"error: {missing}: no such file"


def test_bad_json_is_reported_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    assert f"error: {broken}: invalid JSON: " in _fails_cleanly(capsys, ["solve", str(broken)])


def test_an_invalid_field_is_reported_by_record_id_and_field(
    instance_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(instance_file.read_text())
    data["offers"][0]["capacity"] = 0
    instance_file.write_text(json.dumps(data))
    err = _fails_cleanly(capsys, ["solve", str(instance_file)])
    offer_id = data["offers"][0]["offer_id"]
    assert f"{instance_file}: offers[0].capacity (offer_id {offer_id}): " in err
    assert "greater than or equal to 1" in err


def test_an_engine_error_is_reported_with_its_record(
    instance_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> Result:
        raise matching.InvalidInstance("insurance cannot be checked", record="off-00001")

    monkeypatch.setattr(matching, "solve", refuse)
    err = _fails_cleanly(capsys, ["solve", str(instance_file)])
    assert err == f"error: {instance_file}: off-00001: insurance cannot be checked"


def test_an_unknown_student_is_reported_without_a_traceback(
    tmp_path: Path, instance_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result_file = tmp_path / "result.json"
    assert main(["solve", str(instance_file), "-o", str(result_file)]) == 0
    capsys.readouterr()
    err = _fails_cleanly(capsys, ["explain", str(result_file), "stu-nobody"])
    assert err == f"error: {result_file}: no student stu-nobody in this result"


def test_explaining_an_instance_instead_of_a_result_is_reported(
    instance_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert str(instance_file) in _fails_cleanly(capsys, ["explain", str(instance_file), "x"])


def test_a_usage_error_exits_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--students", "0", "--schools", "1", "-o", "x.json"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
    assert main([]) == 2


def test_help_exits_with_status_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "generate" in capsys.readouterr().out


def test_an_unproven_round_reads_how_far_from_the_best_each_level_may_be(
    tmp_path: Path, instance_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result_file = tmp_path / "result.json"
    assert main(["solve", str(instance_file), "-o", str(result_file)]) == 0
    out = capsys.readouterr().out
    result = Result.model_validate_json(result_file.read_bytes())
    assert result.metrics.proven_optimal and "proven optimal" in out

    # The same summary for a round whose bound is left above its placements.
    objective = result.metrics.objective
    bound = (*objective[:2], objective[2] + 3, 0)
    unproven = result.model_copy(
        update={
            "metrics": result.metrics.model_copy(
                update={"bound": bound, "proven_optimal": False, "optimality": ""}
            )
        }
    )
    console = Console(record=True, width=400)
    print_summary(console, unproven)
    text = console.export_text()
    assert f"weighted placements {objective[2]:,}, at most 3 (" in text
    assert "below the best possible; ranks not proven yet" in text
    assert "proven optimal" not in text

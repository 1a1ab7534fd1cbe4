"""Loading the CLI's files: every kind of bad input becomes one line naming file, record, field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.cli.loading import (
    InputError,
    describe_engine_error,
    format_loc,
    load_instance,
    load_result,
    write_json,
)
from services.generator import generate


@pytest.fixture(scope="module")
def instance_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(generate(40, 2, seed=4).model_dump_json())
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(data))
    return path


def _error(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_instance(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_location_reads_like_python_indexing() -> None:
    assert format_loc(("offers", 12, "sessions", 0, "end")) == "offers[12].sessions[0].end"
    assert format_loc(("rules", "target_pct")) == "rules.target_pct"
    assert format_loc(()) == ""


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    assert _error(tmp_path / "nowhere.json") == f"{tmp_path / 'nowhere.json'}: no such file"


def test_a_directory_is_not_taken_for_a_file(tmp_path: Path) -> None:
    assert "is a directory" in _error(tmp_path)


def test_invalid_json_is_reported_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"students": [\n')
    message = _error(path)
    assert message.startswith(f"{path}: invalid JSON: ")
    assert "line 2" in message


def test_a_missing_field_is_named_with_its_record_and_id(
    tmp_path: Path, instance_data: dict[str, Any]
) -> None:
    offers = [dict(o) for o in instance_data["offers"]]
    del offers[0]["capacity"]
    message = _error(_write(tmp_path, {**instance_data, "offers": offers}))
    assert message == (
        f"{tmp_path / 'instance.json'}: offers[0].capacity (offer_id {offers[0]['offer_id']}): "
        "Field required"
    )


def test_a_rule_broken_inside_a_record_names_the_nested_field(
    tmp_path: Path, instance_data: dict[str, Any]
) -> None:
    offers = json.loads(json.dumps(instance_data["offers"]))
    offers[3]["sessions"][0].update(start="19:00:00", end="20:30:00")
    message = _error(_write(tmp_path, {**instance_data, "offers": offers}))
    assert f"offers[3].sessions[0] (offer_id {offers[3]['offer_id']}): " in message
    assert "must end by 20:00" in message


def test_a_reference_error_found_above_the_records_still_names_the_record(
    tmp_path: Path, instance_data: dict[str, Any]
) -> None:
    preferences = json.loads(json.dumps(instance_data["preferences"]))
    preferences[2]["ranked"][0] = "off-missing"
    message = _error(_write(tmp_path, {**instance_data, "preferences": preferences}))
    student = preferences[2]["student_id"]
    assert f"preferences[2].ranked[0] (student_id {student}): " in message
    assert "unknown offer off-missing" in message


def test_further_problems_are_counted_not_listed(
    tmp_path: Path, instance_data: dict[str, Any]
) -> None:
    students = [dict(s) for s in instance_data["students"]]
    students[1]["academic_band"] = 7
    students[2]["form"] = "S9"
    message = _error(_write(tmp_path, {**instance_data, "students": students}))
    assert message.startswith(f"{tmp_path / 'instance.json'}: students[1].academic_band ")
    assert message.endswith("(and 1 more problem)")


def test_a_record_without_its_id_is_named_by_position_only(
    tmp_path: Path, instance_data: dict[str, Any]
) -> None:
    students = [dict(s) for s in instance_data["students"]]
    del students[0]["student_id"]
    message = _error(_write(tmp_path, {**instance_data, "students": students}))
    assert ": students[0].student_id: Field required" in message


def test_a_file_of_the_wrong_kind_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[]")
    with pytest.raises(InputError, match=r"list\.json: Input should be an object"):
        load_result(path)


def test_an_engine_error_names_file_and_record_once() -> None:
    path = Path("instance.json")
    assert (
        describe_engine_error(path, "pin is full", "off-1") == "instance.json: off-1: pin is full"
    )
    assert describe_engine_error(path, "off-1 is full", "off-1") == "instance.json: off-1 is full"
    assert describe_engine_error(path, "no offers", None) == "instance.json: no offers"


def test_writing_creates_folders_and_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "build" / "out.json"
    write_json(target, '{"a": 1}')
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_a_file_that_cannot_be_written_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot write"):
        write_json(blocker / "out.json", "{}")

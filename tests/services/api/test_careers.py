"""Careers teams: student import, coverage, rounds and the allocations export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx2
from fastapi.testclient import TestClient
from openpyxl import Workbook

from schemas import Form
from schemas.events import RoundRequested, StudentRegistered
from services.persistence import Database
from tests.services.api.conftest import (
    CLASSMATE,
    OTHER_PROVIDER,
    OTHER_SCHOOL,
    OTHER_STUDENT,
    PROVIDER,
    ROUND,
    SCHOOL,
    STUDENT,
    STUDENTS_CSV,
    FakePublisher,
    Tokens,
)


def _upload(
    client: TestClient, headers: dict[str, str], content: bytes, name: str = "students.csv"
) -> httpx2.Response:
    files = {"file": (name, content, "application/octet-stream")}
    return client.post(f"/schools/{SCHOOL}/students/import", headers=headers, files=files)


def test_a_csv_import_publishes_one_registration_per_student_and_answers_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = _upload(client, tokens.careers(), STUDENTS_CSV.encode())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["students"] == 2
    assert body["event_ids"] == [e.event_id for e in publisher.events]
    first, second = publisher.events
    assert isinstance(first, StudentRegistered) and isinstance(second, StudentRegistered)
    assert first.student.student_id == "s10" and first.student.school_id == SCHOOL
    assert first.student.name == "Wong Ka Yan"
    assert first.student.subjects == frozenset({"biology", "chemistry"})
    assert first.student.academic_band == 1 and first.student.parental_consent
    assert second.student.form is Form.S4 and not second.student.parental_consent
    assert second.student.academic_band is None and second.student.name == "Ho Chi Kin"
    assert first.source.startswith("placement-api:careers:")


def test_an_xlsx_import_reads_the_first_sheet_with_date_and_number_cells(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Student_ID", "Form", "Date_of_Birth", "Academic_Band", "Parental_Consent"])
    sheet.append(["s20", "S6", dt.datetime(2009, 4, 5), 2, True])
    data = io.BytesIO()
    book.save(data)
    response = _upload(client, tokens.careers(), data.getvalue(), "students.xlsx")
    assert response.status_code == 202, response.text
    (event,) = publisher.events
    assert isinstance(event, StudentRegistered)
    assert event.student.date_of_birth == dt.date(2009, 4, 5)
    assert event.student.academic_band == 2 and event.student.parental_consent


def test_a_csv_with_bad_rows_reports_each_by_line_and_field_and_publishes_nothing(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    content = (
        "student_id,form,date_of_birth,subjects,parental_consent\n"
        "s10,S5,2010-05-01,biology,yes\n"
        "s11,S7,2010-05-01,,yes\n"
        "\n"
        "s12,S5,01/05/2010,astrology,maybe\n"
        "s10,S5,2010-05-01,,no\n"
        f"{OTHER_STUDENT},S5,2010-05-01,,no\n"
    )
    response = _upload(client, tokens.careers(), content.encode())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "file"
    assert "nothing was imported" in body["detail"]
    found = {(e["line"], e["field"]) for e in body["errors"]}
    assert found == {
        (3, "form"),
        (5, "date_of_birth"),
        (5, "subjects"),
        (5, "parental_consent"),
        (6, "student_id"),  # s10 again
        (7, "student_id"),  # registered at another school
    }
    messages = {(e["line"], e["field"]): e["message"] for e in body["errors"]}
    assert "also on line 2" in messages[(6, "student_id")]
    assert "another school" in messages[(7, "student_id")]
    assert "astrology" in messages[(5, "subjects")]
    assert publisher.events == []


def test_a_csv_without_a_required_column_is_refused_on_line_1(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = _upload(client, tokens.careers(), b"student_id,form,shoe_size\ns10,S5,42\n")
    assert response.status_code == 422
    found = {(e["line"], e["field"], e["message"]) for e in response.json()["errors"]}
    assert (1, "date_of_birth", "required column is missing") in found
    assert any(field == "shoe_size" for _, field, _ in found)
    assert publisher.events == []


def test_a_file_that_is_neither_csv_nor_xlsx_is_refused_naming_the_file(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = _upload(client, tokens.careers(), b"\xff\xfe\x00garbage")
    assert response.status_code == 422
    assert response.json()["field"] == "file"
    assert "UTF-8" in response.json()["detail"]
    empty = _upload(client, tokens.careers(), b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    assert publisher.events == []


def test_a_csv_naming_another_school_in_its_school_column_is_refused(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    content = f"student_id,school_id,form,date_of_birth\ns10,{OTHER_SCHOOL},S5,2010-05-01\n"
    response = _upload(client, tokens.careers(), content.encode())
    assert response.status_code == 422
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == [(2, "school_id")]
    assert publisher.events == []


def test_the_school_sees_its_own_students_only(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/schools/{SCHOOL}/students", headers=tokens.careers())
    assert response.status_code == 200
    assert [s["student_id"] for s in response.json()] == [STUDENT, CLASSMATE]


def test_coverage_shows_each_form_of_the_school_against_the_target(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/schools/{SCHOOL}/coverage", headers=tokens.careers())
    assert response.status_code == 200
    rows = {row["form"]: row for row in response.json()}
    assert set(rows) == {"S4", "S5"}
    assert rows["S5"]["students"] == 1 and rows["S5"]["b8_projected"] == 1  # s1 holds L1 + L2
    assert rows["S5"]["projected_pct"] == 100.0 and not rows["S5"]["below_target"]
    assert rows["S4"]["b8_projected"] == 0 and rows["S4"]["below_target"]
    assert rows["S4"]["target_pct"] == 90.0


def test_a_round_request_publishes_a_round_of_the_careers_teams_school_and_answers_202(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post("/rounds", headers=tokens.careers(), json={"mode": "commit", "seed": 3})
    assert response.status_code == 202, response.text
    body = response.json()
    (event,) = publisher.events
    assert isinstance(event, RoundRequested)
    assert body == {
        "event_id": event.event_id,
        "round_id": event.round_id,
        "status_url": f"/rounds/{event.round_id}",
    }
    assert (event.scope, event.school_ids, event.mode, event.seed) == (
        "school",
        (SCHOOL,),
        "commit",
        3,
    )


def test_a_careers_team_may_not_run_a_round_over_every_school_but_an_admin_may(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    refused = client.post("/rounds", headers=tokens.careers(), json={"scope": "all"})
    assert refused.status_code == 403 and refused.json()["field"] == "scope"
    assert publisher.events == []
    allowed = client.post("/rounds", headers=tokens.admin(), json={"scope": "all"})
    assert allowed.status_code == 202
    (event,) = publisher.events
    assert isinstance(event, RoundRequested) and event.scope == "all"


def test_a_cluster_round_without_schools_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post("/rounds", headers=tokens.admin(), json={"scope": "cluster"})
    assert response.status_code == 422
    assert response.json()["field"] == "school_ids"
    assert publisher.events == []


def test_a_round_request_with_an_unknown_mode_is_refused_naming_the_field(
    world: Database, client: TestClient, tokens: Tokens, publisher: FakePublisher
) -> None:
    response = client.post("/rounds", headers=tokens.careers(), json={"mode": "now"})
    assert response.status_code == 422
    assert response.json()["field"] == "mode"
    assert publisher.events == []


def test_a_rounds_status_progress_and_metrics_come_from_the_rounds_table(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/rounds/{ROUND}", headers=tokens.careers())
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["progress"], body["message"]) == ("done", 1.0, "done")
    assert body["metrics"]["matched_students"] == 1
    assert body["started_at"] is not None and body["finished_at"] is not None


def test_an_unknown_round_is_404(world: Database, client: TestClient, tokens: Tokens) -> None:
    response = client.get("/rounds/nope", headers=tokens.careers())
    assert response.status_code == 404
    assert response.json()["field"] == "round_id"


def test_the_export_lists_the_schools_allocations_in_force_as_csv(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    response = client.get(f"/schools/{SCHOOL}/allocations.csv", headers=tokens.careers())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f"allocations-{SCHOOL}.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["student_id"], r["offer_id"]) for r in rows] == [
        (STUDENT, "o-l1"),
        (STUDENT, "o-l2"),
        (CLASSMATE, "o-l2"),
    ]
    assert rows[0]["student_name"] == "Chan Tai Man" and rows[1]["rank"] == "1"
    assert rows[2]["student_name"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert all(r["status"] == "active" and r["round_id"] == ROUND for r in rows)


def test_the_roster_for_one_employer_lists_only_the_schools_students_placed_with_it(
    world: Database, client: TestClient, tokens: Tokens
) -> None:
    def roster(provider: str) -> list[dict[str, str]]:
        response = client.get(
            f"/schools/{SCHOOL}/allocations.csv",
            params={"provider_id": provider},
            headers=tokens.careers(),
        )
        assert response.status_code == 200
        assert f"allocations-{SCHOOL}-{provider}.csv" in response.headers["content-disposition"]
        return list(csv.DictReader(io.StringIO(response.text)))

    assert [(r["student_id"], r["offer_id"]) for r in roster(PROVIDER)] == [
        (STUDENT, "o-l1"),
        (STUDENT, "o-l2"),
        (CLASSMATE, "o-l2"),
    ]
    assert roster(OTHER_PROVIDER) == []

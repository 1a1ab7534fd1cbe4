"""Students from a CSV or XLSX file: every bad row reported by line and column, or all rows.

Columns (a header row first; names are case-insensitive, order free):

| column            | required | value                                                        |
|-------------------|----------|--------------------------------------------------------------|
| student_id        | yes      | letters, digits and `_ . : -`, at most 64                    |
| form              | yes      | S4, S5 or S6                                                 |
| date_of_birth     | yes      | YYYY-MM-DD (or a date cell)                                  |
| name              | no       | the student's name                                           |
| subjects          | no       | HKDSE electives separated by `;` (e.g. `biology;chemistry`)  |
| interests         | no       | sectors separated by `;` (e.g. `healthcare;education`)       |
| academic_band     | no       | 1, 2 or 3 (1 is strongest); empty if unknown                 |
| parental_consent  | no       | yes/no (also true/false, 1/0, y/n); empty is no              |
| priority          | no       | yes/no; empty is no                                          |
| school_id         | no       | if given, the school of the URL                              |

Line 1 is the header; the first student is on line 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas import Student
from services.api.errors import Problem, problems

REQUIRED = ("student_id", "form", "date_of_birth")
OPTIONAL = (
    "name",
    "subjects",
    "interests",
    "academic_band",
    "parental_consent",
    "priority",
    "school_id",
)
COLUMNS = REQUIRED + OPTIONAL
MAX_ROWS = 20_000
_TRUE = frozenset({"yes", "y", "true", "1"})
_FALSE = frozenset({"no", "n", "false", "0", ""})
_SEPARATOR = re.compile(r"[;,]")


class FileProblem(Exception):
    """The file as a whole cannot be read (not CSV or XLSX, no header, too many rows)."""


@dataclass(frozen=True)
class Parsed:
    students: list[tuple[int, Student]]  # (line, student)
    errors: list[Problem]


def read_students(data: bytes, school_id: str) -> Parsed:
    """Parse and validate every row; `errors` lists every problem of every bad row."""
    rows = _xlsx_rows(data) if data.startswith(b"PK\x03\x04") else _csv_rows(data)
    header = next(rows, None)
    if header is None:
        raise FileProblem("the file is empty: give a header row and one row per student")
    _, names = header
    columns = [name.strip().lower() for name in names]
    errors = _check_header(columns)
    if errors:
        return Parsed([], errors)
    students: list[tuple[int, Student]] = []
    first_line: dict[str, int] = {}
    for count, (line, values) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            raise FileProblem(f"more than {MAX_ROWS:,} students: split the file")
        if not any(v.strip() for v in values):
            continue  # a blank line
        record = dict(zip(columns, (v.strip() for v in values), strict=False))
        student, row_errors = _student(record, school_id, line)
        errors += row_errors
        if student is None:
            continue
        if student.student_id in first_line:
            errors.append(
                Problem(
                    line=line,
                    field="student_id",
                    message=f"student {student.student_id} is also on line "
                    f"{first_line[student.student_id]}",
                )
            )
            continue
        first_line[student.student_id] = line
        students.append((line, student))
    if not students and not errors:
        raise FileProblem("the file has a header but no students")
    return Parsed(students, errors)


def _check_header(columns: Sequence[str]) -> list[Problem]:
    errors = []
    for name in columns:
        if name and name not in COLUMNS:
            errors.append(
                Problem(
                    line=1,
                    field=name,
                    message=f"unknown column; the columns are {', '.join(COLUMNS)}",
                )
            )
    for name in REQUIRED:
        if name not in columns:
            errors.append(Problem(line=1, field=name, message="required column is missing"))
    repeated = sorted({n for n in columns if n and columns.count(n) > 1})
    errors += [Problem(line=1, field=n, message="column appears twice") for n in repeated]
    return errors


def _student(
    record: dict[str, str], school_id: str, line: int
) -> tuple[Student | None, list[Problem]]:
    errors: list[Problem] = []

    def problem(field: str, message: str) -> None:
        errors.append(Problem(line=line, field=field, message=message))

    given_school = record.get("school_id", "")
    if given_school and given_school != school_id:
        problem("school_id", f"is {given_school}; this import is for school {school_id}")
    data: dict[str, Any] = {
        "student_id": record.get("student_id", ""),
        "school_id": school_id,
        "form": record.get("form", "").upper(),
        "date_of_birth": record.get("date_of_birth", ""),
        "name": record.get("name") or None,
        "subjects": [s.strip().lower() for s in _SEPARATOR.split(record.get("subjects", ""))],
        "interests": [s.strip().lower() for s in _SEPARATOR.split(record.get("interests", ""))],
    }
    data["subjects"] = [s for s in data["subjects"] if s]
    data["interests"] = [s for s in data["interests"] if s]
    band = record.get("academic_band", "")
    if band:
        data["academic_band"] = band  # pydantic checks it is 1, 2 or 3
    for name in ("parental_consent", "priority"):
        value = record.get(name, "").lower()
        if value in _TRUE:
            data[name] = True
        elif value in _FALSE:
            data[name] = False
        else:
            problem(name, f"{record.get(name)!r} is not yes or no")
    try:
        student = Student.model_validate(data)
    except ValidationError as error:
        for item in problems(error):
            column = item.field.split(".")[0]
            errors.append(Problem(line=line, field=column, message=item.message))
        return None, errors
    return (None if errors else student), errors


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileProblem(
            f"not UTF-8 text at byte {error.start}: save the CSV as UTF-8, or upload XLSX"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for values in reader:
            yield start, values
            start = reader.line_num + 1
    except csv.Error as error:
        raise FileProblem(f"line {reader.line_num}: {error}") from None


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise FileProblem(f"not a readable XLSX workbook: {error}") from None
    try:
        sheet = workbook.worksheets[0]
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, [_cell(v) for v in values]
    finally:
        workbook.close()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

"""Reading and writing the CLI's JSON files, and turning bad input into one clear line.

Every way an input file can be wrong (missing, not JSON, failing validation, rejected by the
engine) becomes an `InputError` whose message names the file, the record (`offers[12]` and its
id) and the field: `instance.json: offers[12].sessions[0].end (offer_id off-00013): ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import Instance, Result
from services.settings import Settings

M = TypeVar("M", bound=BaseModel)

# Top-level lists of records, and the fields that identify a record in each.
RECORD_IDS: dict[str, tuple[str, ...]] = {
    "students": ("student_id",),
    "offers": ("offer_id",),
    "preferences": ("student_id",),
    "pinned": ("student_id", "offer_id"),
    "forbidden": ("student_id", "offer_id"),
    "allocations": ("student_id", "offer_id"),
    "unmatched": ("student_id",),
    "explanations": ("student_id",),
}
# A model validator above the records reports its own path at the start of the message.
_PATH_IN_MESSAGE = re.compile(
    r"^(?P<path>(?P<list>[a-z_]+)\[(?P<index>\d+)\][\w.\[\]]*): (?P<rest>.*)$"
)


class InputError(Exception):
    """Bad input. The message is one line, fit to print after `error: `."""


def load_instance(path: Path) -> Instance:
    return load_model(path, Instance)


def load_result(path: Path) -> Result:
    return load_model(path, Result)


def load_model(path: Path, model: type[M]) -> M:
    """Read `path` and validate it as `model`; every failure is an `InputError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a JSON file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: {describe_validation_error(exc, raw)}") from None


def write_json(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file, then a rename)."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def describe_validation_error(error: ValidationError, raw: bytes | None = None) -> str:
    """The first problem as `path (record id): message`, and how many more there are."""
    problems = error.errors(include_url=False, include_input=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        return f"invalid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    message = _clean(first["msg"])
    loc = tuple(first["loc"])
    if not loc and (found := _PATH_IN_MESSAGE.match(message)):
        path = found["path"]
        loc = (found["list"], int(found["index"]))
        message = found["rest"]
    else:
        path = format_loc(loc)
    record = _record_label(raw, loc) if raw is not None else None
    where = " ".join(part for part in (path, f"({record})" if record else "") if part)
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"


def format_loc(loc: Sequence[int | str]) -> str:
    """('offers', 12, 'sessions', 0, 'end') -> 'offers[12].sessions[0].end'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_engine_error(path: Path, message: str, record: str | None) -> str:
    """An error the matching engine raised about an instance file."""
    if record and record not in message:
        return f"{path}: {record}: {message}"
    return f"{path}: {message}"


def _record_label(raw: bytes, loc: Sequence[int | str]) -> str | None:
    """`offer_id off-00013` for a path into a list of records, when the record has its id."""
    if len(loc) < 2 or not isinstance(loc[1], int) or loc[0] not in RECORD_IDS:
        return None
    try:
        record: Any = json.loads(raw)[loc[0]][loc[1]]
    except (ValueError, LookupError, TypeError):
        return None
    if not isinstance(record, dict):
        return None
    keys = RECORD_IDS[str(loc[0])]
    ids = [f"{key} {str(record[key])[:64]}" for key in keys if _is_id(record.get(key))]
    return ", ".join(ids) or None


def _is_id(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and str(value) != ""


def _clean(message: str) -> str:
    """pydantic prefixes a validator's own message with 'Value error, '; keep one line."""
    return message.removeprefix("Value error, ").replace("\n", " ")


def settings_from_env() -> Settings:
    """The process's settings, or `InputError` naming the variable that is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        raise InputError(f"environment: {describe_validation_error(error)}") from None


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """`kill` (SIGTERM) and a closed terminal (SIGHUP) stop a long-running command as Ctrl-C
    does: in order, leaving nothing behind."""

    def interrupt(signum: int, frame: FrameType | None) -> Any:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- argument types: a bad value is an argparse error naming the option ---------------------


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value

"""The `placement` command line.

    placement generate --students N --schools S --seed K -o instance.json
    placement solve instance.json -o result.json [--mode optimal|stable] [--seed K]
    placement explain result.json STUDENT_ID
    placement schema [-o DIR]
    placement broker [--port N]
    placement events publish FILE.jsonl
    placement events tail TOPIC [--from-beginning] [--limit N] [--timeout S]
    placement up [--demo [--once]]       the service on the embedded default, until Ctrl-C
    placement worker | migrate           the service against Kafka and PostgreSQL
    placement rounds run|status|list     allocation rounds through the event stream
    placement coverage [--school ID]

Bad input (a missing file, invalid JSON, a record that fails validation, an instance the engine
rejects, an unknown student) prints one line, `error: <file>: <record and field>: <problem>`, and
exits with status 2. The engine is imported only by the commands that need it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.text import Text

from schemas import SolveOptions
from schemas.export import json_schemas
from services.cli.events import add_commands as add_broker_commands
from services.cli.loading import (
    InputError,
    describe_engine_error,
    load_instance,
    load_result,
    write_json,
)
from services.cli.report import (
    StageProgress,
    print_explanation,
    print_instance_summary,
    print_summary,
)
from services.cli.service import add_commands as add_service_commands
from services.cli.tokens import add_commands as add_token_commands
from services.generator import generate

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports it

Handler = Callable[[argparse.Namespace, Console], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in `argv` (default: the process arguments) and return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed usage: 0 for --help, 2 for a usage error
        return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
    handler: Handler = args.handler
    try:
        return handler(args, Console(highlight=False))
    except InputError as error:
        errors = Console(stderr=True, soft_wrap=True, highlight=False)
        errors.print(Text("error: ", style="bold red") + Text(str(error)))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `placement schema | head`: the reader left, nothing to say
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="placement",
        description="Match senior-form students to workplace and further-education encounters "
        "(HKBM benchmarks 8 and 9).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("generate", help="write a synthetic instance")
    gen.add_argument("--students", type=_positive, required=True, help="number of students")
    gen.add_argument("--schools", type=_positive, required=True, help="number of schools")
    gen.add_argument("--seed", type=_non_negative, default=0, help="random seed (default 0)")
    gen.add_argument("-o", "--output", type=Path, required=True, help="instance JSON to write")
    gen.set_defaults(handler=_generate)

    solve = commands.add_parser("solve", help="allocate an instance and summarise the round")
    solve.add_argument("instance", type=Path, help="instance JSON")
    solve.add_argument("-o", "--output", type=Path, help="result JSON to write")
    solve.add_argument("--mode", choices=("optimal", "stable"), default="optimal")
    solve.add_argument("--seed", type=_non_negative, default=0, help="tie-break seed (default 0)")
    solve.set_defaults(handler=_solve)

    explain = commands.add_parser("explain", help="show why a student got what they got")
    explain.add_argument("result", type=Path, help="result JSON written by `placement solve`")
    explain.add_argument("student_id")
    explain.set_defaults(handler=_explain)

    schema = commands.add_parser("schema", help="print the JSON Schemas, or write one file each")
    schema.add_argument("-o", "--output-dir", type=Path, help="directory for <name>.json files")
    schema.set_defaults(handler=_schema)

    add_broker_commands(commands)
    add_service_commands(commands)
    add_token_commands(commands)
    return parser


def _generate(args: argparse.Namespace, console: Console) -> int:
    with console.status(f"Generating {args.students:,} students..."):
        try:
            instance = generate(args.students, args.schools, args.seed)
        except ValueError as error:
            raise InputError(str(error)) from None
        write_json(args.output, instance.model_dump_json())
    print_instance_summary(console, instance, str(args.output))
    return EXIT_OK


def _solve(args: argparse.Namespace, console: Console) -> int:
    from matching import MatchingError, solve

    with console.status(f"Loading {args.instance}..."):
        instance = load_instance(args.instance)
    options = SolveOptions(mode=args.mode, seed=args.seed)
    try:
        with StageProgress(console) as stages:
            result = solve(instance, options, progress=stages.update)
    except MatchingError as error:
        message = describe_engine_error(args.instance, str(error), error.record)
        raise InputError(message) from None
    if args.output is not None:
        write_json(args.output, result.model_dump_json())
    print_summary(console, result)
    if args.output is not None:
        console.print(f"Wrote {args.output}")
    return EXIT_OK


def _explain(args: argparse.Namespace, console: Console) -> int:
    from matching import explain_student

    result = load_result(args.result)
    try:
        explanation = explain_student(result, args.student_id)
    except KeyError:
        raise InputError(f"{args.result}: no student {args.student_id} in this result") from None
    print_explanation(console, result, explanation)
    return EXIT_OK


def _schema(args: argparse.Namespace, console: Console) -> int:
    schemas = json_schemas()
    if args.output_dir is None:
        print(json.dumps(schemas, indent=2))
        return EXIT_OK
    for name, schema in schemas.items():
        write_json(args.output_dir / f"{name}.json", json.dumps(schema, indent=2) + "\n")
    console.print(f"Wrote {len(schemas)} JSON Schemas to {args.output_dir}")
    return EXIT_OK


def _positive(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None

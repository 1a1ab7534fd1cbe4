"""numba compilation of the few hot loops that numpy cannot vectorise.

Each loop is written as plain Python over numpy arrays, so tests can run it uncompiled and
compare; `compiled` compiles it on first use (numba is imported then too: most processes
never need it). numba caches the machine code on disk, so later processes load it in
milliseconds; where nothing can be written (a read-only install, no home directory) each
process compiles it once instead, in about half a second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def _compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    import numba

    compiled: Callable[..., Any]
    try:
        compiled = numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        compiled = numba.njit(cache=False, nogil=True)(fn)
    return compiled


def compiled(fn: F) -> F:
    """`fn` compiled by numba (once per process)."""
    return cast(F, _compile(fn))


def clear() -> None:
    """Forget what was compiled (tests use it to compile again under other conditions)."""
    _compile.cache_clear()

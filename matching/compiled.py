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


# Below this much work (the arcs or pairs a call loops over) a kernel runs as plain Python,
# unless it is compiled already: importing numba and loading a kernel from its cache costs
# 0.2-0.3 s once per process, more than a 500-student round spends in all its kernels.
SMALL_WORK = 20_000
_ready: set[Callable[..., Any]] = set()


def compiled(fn: F) -> F:
    """`fn` compiled by numba (once per process)."""
    _ready.add(fn)
    return cast(F, _compile(fn))


def kernel(fn: F, work: int) -> F:
    """`fn` compiled for a call that loops over `work` elements, or `fn` itself (the same
    results, tested) for a small call in a process that has not compiled it yet."""
    if work < SMALL_WORK and fn not in _ready:
        return fn
    return compiled(fn)


def clear() -> None:
    """Forget what was compiled (tests use it to compile again under other conditions)."""
    _compile.cache_clear()
    _ready.clear()

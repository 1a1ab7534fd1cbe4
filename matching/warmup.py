"""Compile the engine's numba kernels ahead of the first round that needs them.

    python -m matching.warmup      # e.g. while building an image, to fill numba's cache

Compiling all of them takes a few seconds; loading them from numba's on-disk cache a few
tenths. A worker warms them up in the background as it starts (services/worker/app.py), so
its first round does not pay that; an image build runs this module to fill the cache.
"""

from __future__ import annotations

import time

import numpy as np

from matching.assignment import distances
from matching.clashes import clash_kernel, pairs_kernel
from matching.compiled import compiled
from matching.lagrange import search
from matching.pairs import bfs, refit, residual_side
from matching.potentials import counting_sort, relax_in_place, tight_components
from matching.reoptimise import augment


def warm_up() -> float:
    """Compile (or load) every kernel on a tiny input; returns the seconds it took."""
    started = time.perf_counter()
    one = np.zeros(1, dtype=np.int64)
    table = np.zeros((1, 1), dtype=np.int64)
    indptr = np.array([0, 1, 1], dtype=np.int64)
    into = np.array([0, 0, 1], dtype=np.int64)
    compiled(search)(indptr, one + 1, one, into, one, one, 0, 1, 1 << 62)
    compiled(tight_components)(indptr, one + 1, one)
    compiled(distances)(indptr, one + 1, one, one.copy(), one + 1, one + 1, 1)
    compiled(clash_kernel)(table, table, table + 1, one, one)
    compiled(pairs_kernel)(one, one, one)
    compiled(bfs)(
        indptr, one + 1, 0, np.zeros(2, dtype=np.bool_), np.zeros(2, dtype=np.int64), 1, 2
    )
    arc = np.array([0], dtype=np.int64)
    compiled(augment)(
        2,
        arc,
        arc + 1,
        one + 1,
        one,
        one.copy(),
        np.zeros(2, dtype=np.int64),
        arc,
        np.array([0, 1, 2], dtype=np.int64),
        np.array([0, 1], dtype=np.int64),
        False,
    )
    compiled(relax_in_place)(arc, arc + 1, one, np.zeros(2, dtype=np.int64), 1)
    compiled(counting_sort)(arc, 1)
    compiled(refit)(2, arc, arc + 1, one + 1, one.copy(), indptr, np.array([0, 1], dtype=np.int64))
    compiled(residual_side)(
        2, arc, arc + 1, one + 1, one, indptr, np.array([0, 1], dtype=np.int64), 0, True
    )
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"engine kernels ready in {warm_up():.1f} s")

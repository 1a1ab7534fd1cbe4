"""Pausing Python's cyclic garbage collector around work that allocates heavily.

A solve, a round's commit and a relay pass each allocate hundreds of thousands of short-lived
objects (search heaps, allocations, rows, events). Allocating that many triggers full
collections, and a full collection walks every tracked object, a worker's whole heap or a
150,000-student instance: a few hundred milliseconds each (the explanations of such a round
took twice as long with the collector on). These objects hold no reference cycles worth
collecting early, so reference counting frees them all the same.

One pause for the whole process: blocks nest and overlap across threads (a worker solves one
round while its relay publishes another), and the collector resumes when the last one ends,
unless it was off before the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_pauses = 0  # collection_paused() blocks under way, in any thread
_resume = False  # whether the last one to end enables the collector again
_pauses_lock = threading.Lock()


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    global _pauses, _resume
    with _pauses_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pauses_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()

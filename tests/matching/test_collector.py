"""One pause of the cycle collector for the whole process, however blocks nest."""

from __future__ import annotations

import gc

from matching.collector import collection_paused


def test_collection_is_paused_until_the_last_nested_block_ends() -> None:
    assert gc.isenabled()
    with collection_paused():
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()  # paused by someone else: left as it was
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

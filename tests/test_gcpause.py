import gc

import pytest

from funnelbridge.gcpause import collect_young, gc_paused


def test_collection_is_paused_inside_and_restored_even_when_the_block_fails() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_it_leaves_collection_as_the_caller_had_it() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pause_false_leaves_collection_on() -> None:
    with gc_paused(False):
        assert gc.isenabled()
    assert gc.isenabled()


def _cycle() -> None:
    loop: list[object] = []
    loop.append(loop)


def test_collect_young_reaches_what_a_pause_made_and_does_nothing_otherwise() -> None:
    with gc_paused():
        for _ in range(100):
            _cycle()
        assert collect_young() >= 100
        assert collect_young() == 0
    assert collect_young() == 0  # collection on: the collector's business

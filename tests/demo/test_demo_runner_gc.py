"""The demo pauses Python's cyclic collector during intake and leaves it as it found it."""

from __future__ import annotations

import gc

import pytest

from funnelbridge.demo.runner import _collector_paused


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_and_left_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with _collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), _collector_paused():
            raise RuntimeError("intake failed")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()

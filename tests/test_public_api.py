"""The public API is exactly what ``__all__`` lists, and every listed name exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import funnelbridge
from funnelbridge import errors


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(funnelbridge.__path__, "funnelbridge."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


def test_top_level_all_is_sorted_and_complete() -> None:
    assert funnelbridge.__all__ == sorted(funnelbridge.__all__)
    for name in funnelbridge.__all__:
        assert hasattr(funnelbridge, name), name
    public = {n for n in vars(funnelbridge) if not n.startswith("_")} - {"annotations"}
    modules = {n for n, v in vars(funnelbridge).items() if type(v).__name__ == "module"}
    assert public - modules <= set(funnelbridge.__all__)


@pytest.mark.parametrize("module", _modules())
def test_every_name_in_a_modules_all_exists(module: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # optional extras (ml, spark, api) may be absent in a minimal install
        pytest.skip(f"optional dependency missing: {exc}")
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{module}.__all__ lists {name!r}, which does not exist"


def test_every_error_derives_from_the_one_base() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.FunnelbridgeError)
    assert set(errors.__all__) <= set(funnelbridge.__all__)


def test_importing_the_package_has_no_side_effects(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    code = "import funnelbridge, funnelbridge.cli, os; print(sorted(os.listdir('.')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

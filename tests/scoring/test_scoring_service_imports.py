"""``scoring.service`` imports the batch rescore (Ibis, pyarrow) only when one of its names is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pyarrow", "ibis", "funnelbridge.scoring.rescore")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_importing_the_service_does_not_import_the_batch_rescore() -> None:
    assert _loaded_after("import funnelbridge.scoring.service") == []


@pytest.mark.parametrize("name", ["Progress", "RescoreSummary", "rescore_all"])
def test_the_rescore_names_are_the_rescore_modules_own(name: str) -> None:
    from funnelbridge.scoring import rescore, service

    assert name in service.__all__
    assert getattr(service, name) is getattr(rescore, name)


def test_from_import_of_a_rescore_name_loads_it() -> None:
    assert "funnelbridge.scoring.rescore" in _loaded_after("from funnelbridge.scoring.service import rescore_all")


def test_an_unknown_name_is_an_attribute_error() -> None:
    from funnelbridge.scoring import service

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = service.no_such_name  # type: ignore[attr-defined]

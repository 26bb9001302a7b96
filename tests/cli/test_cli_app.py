from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from funnelbridge import __version__
from funnelbridge.cli import main
from funnelbridge.playbook import example_path
from funnelbridge.store import migrations

NEWEST = max(p.name.split("_")[0] for p in (Path(migrations.__file__).parent / "versions").glob("[0-9]*_*.py"))
"""The newest migration's revision (its file name's number), which ``init`` and ``db upgrade`` reach."""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from funnelbridge.cli import main; sys.exit(main())", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120"},
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"funnelbridge {__version__}"


def test_init_writes_playbook_and_migrates_database(tmp_path: Path) -> None:
    result = _run("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "playbook.yaml").read_text() == example_path("b2b").read_text()
    assert (tmp_path / "funnelbridge.db").exists()
    current = _run("db", "current", cwd=tmp_path)
    assert f"current {NEWEST}, head {NEWEST}" in current.stdout
    again = _run("init", "--example", "b2c", cwd=tmp_path)
    assert "kept existing playbook" in again.stdout


def test_db_downgrade_and_upgrade(tmp_path: Path) -> None:
    assert _run("db", "upgrade", cwd=tmp_path).returncode == 0
    assert "base" in _run("db", "downgrade", "base", cwd=tmp_path).stdout
    assert f"database at revision {NEWEST}" in _run("db", "upgrade", cwd=tmp_path).stdout


def test_playbook_check_prints_stages_and_scoring(tmp_path: Path) -> None:
    result = _run("playbook", "check", str(example_path("six_stage")), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for word in ("is valid", "qualified", "SAL", "SQL", "customer", "scoring", "grades", "MQL threshold"):
        assert word in result.stdout


def test_broken_playbook_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(example_path("b2b").read_text().replace("points: 15}", "points: ten}", 1))
    result = _run("playbook", "check", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'bad.yaml:55 scoring.fit[2].points: expected a number, got "ten"' in lines[0]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = _run("--debug", "playbook", "check", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "PlaybookError" in result.stderr


def test_unmigrated_database_error_is_one_line(tmp_path: Path) -> None:
    from funnelbridge.bootstrap import open_runtime
    from funnelbridge.errors import StoreError
    from funnelbridge.settings import Settings

    (tmp_path / "playbook.yaml").write_text(example_path("b2b").read_text())
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.db", playbook=str(tmp_path / "playbook.yaml"))
    with pytest.raises(StoreError, match="run `funnelbridge db upgrade`"):
        open_runtime(settings)


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2

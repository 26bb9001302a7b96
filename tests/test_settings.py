from __future__ import annotations

from pathlib import Path

import pytest

from funnelbridge.errors import ConfigError
from funnelbridge.settings import SETTINGS, Settings, load_settings


def test_defaults_point_at_a_sqlite_file_in_the_working_directory() -> None:
    settings = load_settings(env={}, config_file=Path("/nonexistent.toml"))
    assert settings == Settings()
    assert settings.database_url == "sqlite:///funnelbridge.db"


def test_every_setting_is_declared_with_type_default_and_help() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for setting in SETTINGS:
        assert setting.help.endswith(".")
        assert isinstance(setting.default, setting.type)


def test_toml_then_environment_precedence(tmp_path: Path) -> None:
    config = tmp_path / "funnelbridge.toml"
    config.write_text('[funnelbridge]\ndatabase_url = "sqlite:///from-toml.db"\nport = 9000\n')
    settings = load_settings(env={"FUNNELBRIDGE_PORT": "9100"}, config_file=config)
    assert settings.database_url == "sqlite:///from-toml.db"
    assert settings.port == 9100


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "other.toml"
    config.write_text('engine = "duckdb"\n')
    assert load_settings(env={"FUNNELBRIDGE_CONFIG": str(config)}).engine == "duckdb"


def test_bad_values_are_reported_with_their_origin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FUNNELBRIDGE_PORT: port must be int, got 'eighty'"):
        load_settings(env={"FUNNELBRIDGE_PORT": "eighty"}, config_file=tmp_path / "none.toml")
    config = tmp_path / "bad.toml"
    config.write_text("databse_url = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'databse_url'"):
        load_settings(env={}, config_file=config)
    config.write_text("this is not toml")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(env={}, config_file=config)

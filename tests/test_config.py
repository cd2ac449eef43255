"""Settings: YAML < environment, generated secrets, production refusal."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.config import load_settings
from core.errors import ConfigError


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body)
    return path


def test_environment_overrides_yaml_including_nested_keys(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "log_level: INFO\nregistration: closed\ncookie: {name: c1, expiry_days: 7}\n")
    settings = load_settings(cfg, {"PARLEY_LOG_LEVEL": "DEBUG", "PARLEY_COOKIE__EXPIRY_DAYS": "2.5"})
    assert settings.log_level == "DEBUG"
    assert settings.cookie.expiry_days == 2.5
    assert settings.cookie.name == "c1"  # untouched keys keep the YAML value
    assert settings.registration == "closed"


def test_yaml_value_used_when_environment_is_silent(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "registration: open\n")
    assert load_settings(cfg, {}).registration == "open"


def test_database_url_from_conventional_env_name_and_prefixed_wins(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "")
    assert load_settings(cfg, {"DATABASE_URL": "postgresql://a@h/db"}).sqlalchemy_url == (
        "postgresql+psycopg://a@h/db"
    )
    both = {"DATABASE_URL": "postgresql://a@h/db", "PARLEY_DATABASE_URL": "sqlite:///x.db"}
    assert load_settings(cfg, both).sqlalchemy_url == "sqlite:///x.db"


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "data_dir: d\n"), {})
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'd' / 'parley.db'}"


def test_secrets_generated_once_into_private_file_and_reused(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "data_dir: data\n")
    first = load_settings(cfg, {})
    secret_file = tmp_path / "data" / "secrets.env"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    second = load_settings(cfg, {})
    assert first.cookie_key.get_secret_value() == second.cookie_key.get_secret_value()
    assert len(first.cookie_key.get_secret_value()) >= 32
    Fernet(first.fernet_keys[0].get_secret_value().encode())  # a usable key


def test_environment_secrets_win_over_generated(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(_write(tmp_path, ""), {"PARLEY_COOKIE_KEY": "k" * 40, "PARLEY_FERNET_KEYS": key})
    assert settings.cookie_key.get_secret_value() == "k" * 40
    assert [k.get_secret_value() for k in settings.fernet_keys] == [key]


REAL_KEY = secrets.token_urlsafe(48)


@pytest.mark.parametrize("cookie_key", ["", "change-me", "short", "x" * 48, "changeme" * 6])
def test_production_refuses_missing_or_placeholder_cookie_key(tmp_path: Path, cookie_key: str) -> None:
    env = {"PARLEY_ENV": "production", "PARLEY_COOKIE_KEY": cookie_key,
           "PARLEY_FERNET_KEYS": Fernet.generate_key().decode()}
    with pytest.raises(ConfigError, match="PARLEY_COOKIE_KEY"):
        load_settings(_write(tmp_path, ""), env)
    assert not (tmp_path / "data" / "secrets.env").exists()  # production never generates


def test_production_refuses_missing_fernet_keys(tmp_path: Path) -> None:
    env = {"PARLEY_ENV": "production", "PARLEY_COOKIE_KEY": REAL_KEY}
    with pytest.raises(ConfigError, match="PARLEY_FERNET_KEYS"):
        load_settings(_write(tmp_path, ""), env)


def test_production_starts_with_real_secrets(tmp_path: Path) -> None:
    env = {"PARLEY_ENV": "production", "PARLEY_COOKIE_KEY": REAL_KEY,
           "PARLEY_FERNET_KEYS": Fernet.generate_key().decode()}
    assert load_settings(_write(tmp_path, ""), env).is_production


def test_bad_fernet_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, ""), {"PARLEY_FERNET_KEYS": "not-a-key-SECRETVALUE"})
    assert "SECRETVALUE" not in info.value.user_message


def test_secret_in_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not be set"):
        load_settings(_write(tmp_path, "cookie_key: abc\n"), {})


def test_invalid_value_gets_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="registration"):
        load_settings(_write(tmp_path, ""), {"PARLEY_REGISTRATION": "sometimes"})


def test_shipped_config_yaml_is_valid(tmp_path: Path) -> None:
    from core.config import PROJECT_ROOT

    settings = load_settings(PROJECT_ROOT / "config.yaml", {"PARLEY_DATA_DIR": str(tmp_path)})
    assert settings.registration in {"closed", "approval", "open"}
    assert "local" in settings.providers


def test_list_values_from_environment(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, ""), {"PARLEY_CHAT__FALLBACK": "[anthropic, local]"})
    assert settings.chat.fallback == ["anthropic", "local"]

"""Settings: config.yaml + PARLEY_* environment overrides (env wins); secrets from env or a generated file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

from core.config_sections import (
    ApiSettings as ApiSettings,
)
from core.config_sections import AttachmentSettings, CatalogSettings, PasswordSettings
from core.config_sections import (
    BackupSettings as BackupSettings,
)
from core.config_sections import (
    HistorySettings as HistorySettings,
)
from core.config_sections import (  # re-exported: sections of Settings, by topic
    KeysSettings as KeysSettings,
)
from core.config_sections import (
    KnowledgeSettings as KnowledgeSettings,
)
from core.config_sections import (
    MetricsSettings as MetricsSettings,
)
from core.config_sections import (
    ModelInfo as ModelInfo,
)
from core.config_sections import (
    ProviderCatalog as ProviderCatalog,
)
from core.errors import ConfigError
from core.secrets_env import resolve_secrets

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "PARLEY_"


class CookieSettings(BaseModel):
    name: str = "parley_auth"
    expiry_days: float = Field(default=7, gt=0, le=365)


class LoginSettings(BaseModel):
    max_failures: int = Field(default=5, ge=1)
    window_minutes: int = Field(default=15, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    sleep_seconds: float = Field(default=0.7, ge=0)
    registrations_per_hour: int = Field(default=20, ge=1)  # sign-ups from one client address


class ChatSettings(BaseModel):
    default_provider: str = "local"
    fallback: list[str] = Field(default_factory=lambda: ["local"])
    max_input_chars: int = Field(default=16_000, ge=1)
    default_temperature: float = Field(default=0.7, ge=0, le=2)
    default_max_tokens: int = Field(default=512, ge=1)
    title_chars: int = Field(default=60, ge=10)
    # A reply is stored while it streams: its text is flushed this often, and a reply no live process has
    # touched for stream_stale_seconds (its instance died) becomes interrupted.
    stream_flush_seconds: float = Field(default=1.0, gt=0, le=10)
    stream_stale_seconds: float = Field(default=30.0, ge=2)


class LimitDefaults(BaseModel):
    """One role's limits; 0 means unlimited."""

    requests_per_minute: int = Field(default=20, ge=0)
    requests_per_day: int = Field(default=500, ge=0)
    tokens_per_day: int = Field(default=200_000, ge=0)
    budget_usd_per_month: float = Field(default=10.0, ge=0)


class LimitsSettings(BaseModel):
    admins_exempt: bool = False
    # A call's budget hold is released this long after it was taken if its process died before settling it.
    hold_ttl_seconds: int = Field(default=900, ge=1, le=86400)
    user: LimitDefaults = Field(default_factory=LimitDefaults)
    admin: LimitDefaults = Field(default_factory=LimitDefaults)

    def for_role(self, role: str) -> LimitDefaults:
        return self.admin if role == "admin" else self.user


class CacheSettings(BaseModel):
    enabled: bool = True
    ttl_seconds: int = Field(default=3600, ge=1)
    max_entries: int = Field(default=10_000, ge=1)  # in-process cache only


class Settings(BaseModel):
    """One validated settings object; built once per process by get_settings()."""

    app_name: str = "Parley"
    env: Literal["development", "production", "test"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path("data")
    database_url: str = ""
    redis_url: str = ""
    chroma_url: str = ""  # empty: Chroma embedded under data/chroma; CHROMA_URL: a `chroma run` server
    registration: Literal["closed", "approval", "open"] = "approval"
    # SIGTERM: not ready at once, no new turns, and up to this long for replies in flight to finish.
    drain_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # ...and never shorter than this after the last request: the proxy's idle keep-alive connections to the instance
    # close on the proxy's side first (the shipped nginx drops them after 3 s), so the exit cuts none under a request.
    drain_linger_seconds: float = Field(default=4.0, ge=0, le=600)
    cookie: CookieSettings = Field(default_factory=CookieSettings)
    login: LoginSettings = Field(default_factory=LoginSettings)
    password: PasswordSettings = Field(default_factory=PasswordSettings)
    providers: dict[str, ProviderCatalog] = Field(default_factory=dict)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    keys: KeysSettings = Field(default_factory=KeysSettings)
    # Secrets: never from config.yaml.
    cookie_key: SecretStr = SecretStr("")
    fernet_keys: list[SecretStr] = Field(default_factory=list)
    api_token_key: SecretStr = SecretStr("")  # HMAC key for personal API tokens
    metrics_token: SecretStr | None = None  # bearer token /metrics asks for, when set
    admin_password: SecretStr | None = None
    # Organisation provider keys (the per-user keys issue puts users' own keys in front).
    org_keys: dict[str, SecretStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _api_cap_below_workers(self) -> Settings:
        # One user's running requests hold at most max_concurrent_per_user of the API's workers: never all of them.
        if self.api.max_concurrent_per_user >= self.api.workers:
            raise ValueError(f"api.max_concurrent_per_user ({self.api.max_concurrent_per_user}) must be below "
                             f"api.workers ({self.api.workers}): one user's requests could take every worker")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'parley.db'}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


def _parse_env_value(raw: str) -> Any:
    # YAML gives numbers, booleans and lists ("[openai, local]") their type; mappings use "__" keys.
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    return raw if value is None or isinstance(value, dict) else value


def _apply_env_overrides(data: dict[str, Any], environ: dict[str, str]) -> None:
    secret_names = {"COOKIE_KEY", "FERNET_KEYS", "API_TOKEN_KEY", "METRICS_TOKEN", "ADMIN_PASSWORD",
                    "COMPATIBLE_API_KEY", "COMPATIBLE_BASE_URL"}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name.startswith("PARLEY_TEST_"):
            continue
        path = name[len(ENV_PREFIX) :]
        if path in secret_names or path in {"CONFIG"}:
            continue
        keys = [part.lower() for part in path.split("__")]
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[keys[-1]] = _parse_env_value(raw)
    # The conventional unprefixed names of the scale-out services.
    scale_out = (("database_url", "DATABASE_URL"), ("redis_url", "REDIS_URL"), ("chroma_url", "CHROMA_URL"))
    for field, env_name in scale_out:
        if environ.get(env_name) and not environ.get(ENV_PREFIX + env_name):
            data[field] = environ[env_name]


def load_settings(
    config_path: Path | None = None, environ: dict[str, str] | None = None, *, write_secrets: bool = True
) -> Settings:
    """Build Settings from the YAML file and the environment; raise ConfigError with a clear message.

    write_secrets=False: secrets missing from the environment and data/secrets.env are generated in memory only."""
    environ = dict(os.environ if environ is None else environ)
    config_path = config_path or Path(environ.get("PARLEY_CONFIG") or PROJECT_ROOT / "config.yaml")
    try:
        data = (yaml.safe_load(config_path.read_text()) if config_path.exists() else None) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{config_path} must hold a mapping of settings.")
    for secret_key in ("cookie_key", "fernet_keys", "api_token_key", "metrics_token", "admin_password", "org_keys"):
        if secret_key in data:
            raise ConfigError(f"{secret_key} must not be set in {config_path.name}; use the environment.")
    _apply_env_overrides(data, environ)
    data_dir = Path(data.get("data_dir") or "data")
    if not data_dir.is_absolute():
        data_dir = config_path.parent / data_dir
    data["data_dir"] = data_dir
    resolve_secrets(data, environ, data_dir, write=write_secrets)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"Invalid configuration: {problems}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call get_settings.cache_clear())."""
    return load_settings()

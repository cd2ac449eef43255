"""Registry/factory: built-in adapters plus plugins from the `parley.providers` entry-point group."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

from core.config import ProviderCatalog, Settings, get_settings
from core.errors import ValidationError
from core.i18n import Msg
from core.logging import log_event
from core.providers.anthropic import AnthropicProvider
from core.providers.base import Credentials, Provider
from core.providers.compatible import CompatibleProvider
from core.providers.local import LocalProvider
from core.providers.openai import OpenAIProvider

logger = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "parley.providers"
BUILTIN: dict[str, type[Provider]] = {
    cls.name: cls for cls in (LocalProvider, OpenAIProvider, AnthropicProvider, CompatibleProvider)
}


@lru_cache(maxsize=1)
def provider_classes() -> dict[str, type[Provider]]:
    """Built-in adapters, then plugins (a plugin cannot replace a built-in)."""
    classes = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # a broken plugin must not take the portal down
            logger.exception("provider plugin failed to load", extra={"fields": {"plugin": ep.name}})
            continue
        if isinstance(cls, type) and issubclass(cls, Provider) and ep.name not in classes:
            classes[ep.name] = cls
            log_event(logger, "provider plugin registered", plugin=ep.name)
    return classes


def org_credentials(name: str, settings: Settings) -> Credentials:
    """The organisation's key for a provider, from the environment (per-user keys come first later)."""
    key = settings.org_keys.get(name)
    return Credentials(api_key=key.get_secret_value() if key else None, source="org" if key else "none")


def build_provider(name: str, credentials: Credentials | None = None, settings: Settings | None = None) -> Provider:
    """An adapter instance for name with the given (or the organisation's) credentials."""
    settings = settings or get_settings()
    cls = provider_classes().get(name)
    if cls is None:
        raise ValidationError(Msg("providers.unknown", name=name))
    catalog = settings.providers.get(name) or ProviderCatalog()
    return cls(catalog, credentials or org_credentials(name, settings))


@dataclass(frozen=True)
class ProviderOption:
    name: str
    label: str
    models: list[str]
    unavailable: str | None  # None: can answer


def provider_for_user(name: str, user_id: int | None, settings: Settings | None = None) -> Provider:
    """The adapter with the key this user's chat may use (their own, else the organisation's)."""
    settings = settings or get_settings()
    if user_id is None:
        return build_provider(name, settings=settings)
    from core.credentials import resolve  # imported here: credentials imports the provider base
    from core.db import session_scope

    with session_scope() as session:
        found = resolve(session=session, user_id=user_id, provider=name, settings=settings)
    provider = build_provider(name, found.credentials or Credentials(source="none"), settings)
    provider.blocked = found.reason
    return provider


def provider_options(settings: Settings | None = None, user_id: int | None = None) -> list[ProviderOption]:
    """Every configured provider with its models and, when it cannot answer for this user, the reason."""
    settings = settings or get_settings()
    options = []
    for name in provider_classes():
        if name not in settings.providers and name not in BUILTIN:
            continue
        provider = provider_for_user(name, user_id, settings)
        options.append(ProviderOption(name, provider.label, provider.list_models(), provider.unavailable_reason()))
    return options


def warm_up(name: str) -> None:
    """Load what a provider needs before its first reply (the local model's weights)."""
    provider = build_provider(name)
    if isinstance(provider, LocalProvider):
        provider.llama()

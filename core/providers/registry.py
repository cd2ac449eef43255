"""Registry/factory: built-in adapters plus plugins from the `parley.providers` entry-point group.

The registry knows adapter classes; the caller supplies the credentials (core.keys resolves them).
"""

from __future__ import annotations

import logging
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
NO_CREDENTIALS = Credentials(source="none")


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


def configured_providers(settings: Settings | None = None) -> list[str]:
    """The names of the providers this portal offers: the built-ins and configured plugins."""
    settings = settings or get_settings()
    return [name for name in provider_classes() if name in settings.providers or name in BUILTIN]


def build_provider(name: str, credentials: Credentials | None = None, settings: Settings | None = None) -> Provider:
    """An adapter instance for name with the given credentials (none: only keyless providers can answer)."""
    settings = settings or get_settings()
    cls = provider_classes().get(name)
    if cls is None:
        raise ValidationError(Msg("providers.unknown", name=name))
    catalog = settings.providers.get(name) or ProviderCatalog()
    return cls(catalog, credentials or NO_CREDENTIALS)


def warm_up(name: str, settings: Settings | None = None) -> None:
    """Load what a provider needs before its first reply (the local model's weights); needs no key."""
    provider = build_provider(name, settings=settings)
    if isinstance(provider, LocalProvider):
        provider.llama()

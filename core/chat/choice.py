"""Provider choice: each provider's adapter with the key one user may use, or the reason it cannot answer.

A ProviderChooser lives for one page run or one turn: it resolves each provider's key at most once (the model
picker, the chosen provider and any fallback all share it) and never outlives the request that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from core.accounts import allows
from core.config import ModelInfo, Settings
from core.db import session_scope
from core.keys import resolve_keys
from core.model_catalog import offered
from core.models import Role, Team
from core.providers.base import Provider
from core.providers.registry import build_provider, configured_providers

# (provider name, user id) -> an adapter that already holds its credentials (tests use fakes).
ProviderFactory = Callable[[str, int], Provider]


@dataclass(frozen=True)
class ProviderChoice:
    provider: Provider
    unavailable_reason: str | None  # None: it can answer for this user


@dataclass(frozen=True)
class ProviderOption:
    """One line of the model picker."""

    name: str
    label: str
    models: list[str]
    unavailable: str | None  # None: can answer
    infos: dict[str, ModelInfo] = field(default_factory=dict)  # the catalog's entries (display names, defaults)

    def title(self, model: str) -> str:
        info = self.infos.get(model)
        return info.display_name if info is not None and info.display_name else model


class ProviderChooser:
    """The providers one user may use right now; keys resolved at most once per provider."""

    def __init__(self, user_id: int, *, settings: Settings, engine: Engine,
                 factory: ProviderFactory | None = None, role: Role | None = None, version: int | None = None) -> None:
        # The models offered are the catalog's enabled ones (version: core.changes' number the caller read, so a
        # cached catalog read older than it is not used).
        self.settings = offered(settings, engine, version) if factory is None else settings
        self.user_id, self.engine, self._factory = user_id, engine, factory
        self.role = role  # when the caller already knows it
        self._choices: dict[str, ProviderChoice] = {}

    def choose(self, name: str) -> ProviderChoice:
        """The provider `name` with this user's key, or why it cannot answer."""
        self._load([name])
        return self._choices[name]

    def sees(self, name: str, model: str) -> bool:
        """The model takes images (its catalog entry, else its provider's default)."""
        return self.choose(name).provider.supports(model, frozenset({"vision"}))

    def options(self) -> list[ProviderOption]:
        """Every provider the portal offers, with its models and, when it cannot answer, the reason."""
        names = configured_providers(self.settings)
        self._load(names)
        return [ProviderOption(name, choice.provider.label, choice.provider.list_models(), choice.unavailable_reason,
                               dict(choice.provider.catalog.models))
                for name in names for choice in (self._choices[name],)]

    def _load(self, names: Iterable[str]) -> None:
        missing = [name for name in names if name not in self._choices]
        if not missing:
            return
        if self._factory is not None:
            for name in missing:
                provider = self._factory(name, self.user_id)
                self._choices[name] = ProviderChoice(provider, provider.unavailable_reason())
            return
        with session_scope(self.engine) as session:  # one read of the policy and the user's keys for all
            found = resolve_keys(session=session, user_id=self.user_id, providers=missing, settings=self.settings,
                                 role=self.role)
        for name in missing:
            resolution = found[name]
            provider = build_provider(name, resolution.credentials, self.settings)
            self._choices[name] = ProviderChoice(provider, resolution.reason or provider.unavailable_reason())


def fits(provider: Provider, model: str, max_tokens: int) -> bool:
    """The model's reply cap in the catalog (none: any) allows max_tokens."""
    info = provider.catalog.models.get(model)
    return info is None or info.max_output is None or max_tokens <= info.max_output


def fallback_chain(providers: ProviderChooser, provider: str, model: str, fallback: list[str],
                   team: Team | None, needs: frozenset[str] = frozenset(),
                   max_tokens: int = 0) -> Iterator[tuple[Provider, str]]:
    """The chosen provider and model, then (only if needed) the fallback chain's available ones that the team
    allows, each with its first allowed model that can do what the request needs (tools, a JSON format)."""
    yield providers.choose(provider).provider, model
    for name in dict.fromkeys(fallback):
        if name == provider:
            continue
        choice = providers.choose(name)
        models = [m for m in choice.provider.list_models() if allows(team, name, m)
                  and choice.provider.supports(m, needs) and fits(choice.provider, m, max_tokens)]
        if choice.unavailable_reason is None and models:
            yield choice.provider, models[0]

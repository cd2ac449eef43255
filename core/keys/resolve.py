"""Which key a user's chat uses for each provider: their own, else the organisation's (if allowed), else why not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, or_, select

from core.config import Settings, get_settings
from core.errors import ValidationError
from core.i18n import Msg
from core.keys.policy import POLICY_BYOK, POLICY_ORG_FOR_ALL, policy
from core.keys.urls import check_public_url
from core.keys.vault import KeyVault, KeyVaultError
from core.models import ProviderCredential, Role, User
from core.providers.base import Credentials
from core.secrets_env import ORG_KEY_VARS

KEYED_PROVIDERS = ("openai", "anthropic", "compatible")
KEYLESS = Credentials(source="none")


@dataclass(frozen=True)
class Resolution:
    credentials: Credentials | None
    reason: str | None  # why the provider is not offered


def resolve_keys(*, session: Session, user_id: int, providers: Iterable[str], settings: Settings | None = None,
                 vault: KeyVault | None = None, role: Role | None = None) -> dict[str, Resolution]:
    """Each provider's resolution for one user, from one read of the policy, the user and the stored keys.

    role: the user's role when the caller already read it (the user is not read again).
    """
    settings = settings or get_settings()
    names = list(providers)
    keyed = [p for p in names if p in KEYED_PROVIDERS]
    found: dict[str, Resolution] = {p: Resolution(KEYLESS, None) for p in names if p not in KEYED_PROVIDERS}
    if not keyed:
        return found
    rules = policy(session)
    if role is None:
        user = session.get(User, user_id)
        role = user.role if user is not None else None
    org_allowed = rules[POLICY_ORG_FOR_ALL] or role == Role.admin
    owner = col(ProviderCredential.owner_id)
    rows = session.exec(select(ProviderCredential).where(
        col(ProviderCredential.provider).in_(keyed), or_(owner == user_id, owner.is_(None)))).all()
    own = {c.provider: c for c in rows if c.owner_id == user_id} if rules[POLICY_BYOK] else {}
    org = {c.provider: c for c in rows if c.owner_id is None}
    for name in keyed:
        found[name] = _resolve_one(name, own.get(name), org.get(name), org_allowed, settings, vault)
    return found


def _resolve_one(provider: str, own: ProviderCredential | None, org: ProviderCredential | None, org_allowed: bool,
                 settings: Settings, vault: KeyVault | None) -> Resolution:
    for cred, source in ((own, "user"), (org if org_allowed else None, "org")):
        if cred is not None:
            if source == "user" and cred.base_url:
                try:
                    check_public_url(cred.base_url, settings)  # saved before the rule, or resolving elsewhere now
                except ValidationError as exc:
                    return Resolution(None, exc.user_message)
            try:
                key = (vault or KeyVault.from_settings(settings)).decrypt(cred.ciphertext)
            except KeyVaultError:
                return Resolution(None, Msg("keys.reason_undecryptable"))
            return Resolution(Credentials(api_key=key, base_url=cred.base_url or None, source=source), None)
    env_key = settings.org_keys.get(provider) if org_allowed else None
    if env_key is not None:
        return Resolution(Credentials(api_key=env_key.get_secret_value(), source="org"), None)
    compatible = settings.providers.get("compatible")
    if provider == "compatible" and org_allowed and compatible is not None and compatible.base_url:
        return Resolution(Credentials(source="org"), None)  # a keyless local server configured by the operator
    if not org_allowed and (org is not None or provider in settings.org_keys):
        return Resolution(None, Msg("keys.reason_admins_only"))
    return Resolution(None, Msg("keys.reason_no_key", env=ORG_KEY_VARS[provider]))


def org_resolution(*, session: Session, provider: str, settings: Settings | None = None,
                   vault: KeyVault | None = None) -> Resolution:
    """The organisation's key for provider (stored, else the environment's; a configured keyless compatible server):
    what the model catalog's discovery asks the provider's server with, never a user's own key."""
    settings = settings or get_settings()
    if provider not in KEYED_PROVIDERS:
        return Resolution(KEYLESS, None)
    org = session.exec(select(ProviderCredential).where(col(ProviderCredential.provider) == provider,
                                                        col(ProviderCredential.owner_id).is_(None))).first()
    return _resolve_one(provider, None, org, True, settings, vault)


def resolve(*, session: Session, user_id: int, provider: str, settings: Settings | None = None,
            vault: KeyVault | None = None) -> Resolution:
    """The key a user's chat uses for one provider: their own, else the organisation's (if allowed), else a reason."""
    return resolve_keys(session=session, user_id=user_id, providers=[provider], settings=settings,
                        vault=vault)[provider]

"""Check a stored key against its provider (the owner's own key, or an organisation key by an admin)."""

from __future__ import annotations

from sqlmodel import Session

from core.keys.store import decrypt_for_check, record_check
from core.providers.base import Credentials, KeyCheck
from core.providers.registry import build_provider


def check_stored_key(*, session: Session, actor_id: int, provider: str, org: bool = False) -> KeyCheck:
    """Call the provider's cheapest authenticated endpoint with the key; store the outcome and time."""
    cred_id, key, base_url = decrypt_for_check(session=session, actor_id=actor_id, provider=provider, org=org)
    adapter = build_provider(provider, Credentials(base_url=base_url or None))
    result = adapter.validate_key(key)
    record_check(session=session, credential_id=cred_id, check=result)
    return result

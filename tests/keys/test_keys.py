"""Provider keys: encryption, rotation, tampering, no plaintext at rest, isolation, resolution, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from core.errors import PermissionDenied, ValidationError
from core.keys import (
    POLICY_BYOK,
    POLICY_ORG_FOR_ALL,
    KeyVault,
    KeyVaultError,
    clean_key,
    decrypt_for_check,
    delete_user_key,
    generate_key,
    list_org_keys,
    list_user_keys,
    record_check,
    resolve,
    rotate_all,
    save_org_key,
    save_user_key,
    set_policy,
)
from core.models import AuditEvent, ProviderCredential, User
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer

SECRET = "sk-proj-PLAINTEXTsecret0123456789abcd"
OTHER = "sk-ant-ANOTHERplaintext9876wxyz"


@pytest.fixture
def vault() -> KeyVault:
    return KeyVault([generate_key()])


@pytest.fixture
def ids(engine, session: Session) -> dict[str, int]:
    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    return {"admin": admin, "alice": add_user(session, "alice"), "bob": add_user(session, "bob")}


def test_roundtrip_and_masking(vault) -> None:
    sealed = vault.encrypt(SECRET)
    assert SECRET not in sealed.ciphertext and vault.decrypt(sealed.ciphertext) == SECRET
    assert sealed.key_version == vault.current_version


def test_rotation_lets_the_old_master_key_go(engine, session, ids) -> None:
    old, new = generate_key(), generate_key()
    save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=SECRET, vault=KeyVault([old]))
    both = KeyVault([new, old])
    first = rotate_all(session=session, vault=both)
    again = rotate_all(session=session, vault=both)  # safe to re-run
    assert (first.rotated, first.failed, again.rotated, again.current) == (1, 0, 0, 1)
    only_new = KeyVault([new])
    found = resolve(session=session, user_id=ids["alice"], provider="openai", vault=only_new)
    assert found.credentials is not None and found.credentials.api_key == SECRET


def test_tampered_ciphertext_and_removed_master_key_give_a_clear_message(engine, session, ids, vault) -> None:
    save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=SECRET, vault=vault)
    cred = session.exec(select(ProviderCredential)).one()
    with pytest.raises(KeyVaultError, match="cannot be decrypted"):
        vault.decrypt(cred.ciphertext[:-6] + "AAAAAA")
    stranger = KeyVault([generate_key()])
    found = resolve(session=session, user_id=ids["alice"], provider="openai", vault=stranger)
    assert found.credentials is None and "cannot be decrypted" in (found.reason or "")
    assert rotate_all(session=session, vault=stranger).failed == 1


@pytest.mark.parametrize("raw,message", [
    ("", "Paste the API key"),
    ("sk-abc def-123456", "no spaces or line breaks"),
    ("sk-abc\ndef-123456", "no spaces or line breaks"),
    ("short", "does not look like"),
    ("sk-ключ-1234567890", "does not look like"),
])
def test_malformed_keys_are_refused_without_echo(raw, message) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        clean_key(raw)
    assert raw.strip() == "" or raw not in info.value.user_message


def test_surrounding_whitespace_is_trimmed() -> None:
    assert clean_key(f"  {SECRET}\n") == SECRET


def test_no_plaintext_key_in_the_database_bytes(engine, session, ids, vault, database_url) -> None:
    save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=SECRET, vault=vault)
    save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=SECRET + "x", vault=vault)
    save_org_key(session=session, actor_id=ids["admin"], provider="anthropic", api_key=OTHER, vault=vault)
    session.close()
    if database_url.startswith("sqlite"):
        engine.dispose()
        path = Path(database_url.split("///", 1)[1])
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT t::text FROM providercredential t")).scalars().all()
            audit = conn.execute(text("SELECT t::text FROM auditevent t")).scalars().all()
        blob = "\n".join(rows + audit).encode()
    for secret in (SECRET, OTHER, "PLAINTEXTsecret", "ANOTHERplaintext"):
        assert secret.encode() not in blob


def test_users_cannot_see_or_use_each_others_keys(engine, session, ids, vault) -> None:
    set_policy(session=session, actor_id=ids["admin"], name=POLICY_ORG_FOR_ALL, enabled=False)
    save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=SECRET, vault=vault)
    assert list_user_keys(session=session, user_id=ids["bob"]) == []
    assert resolve(session=session, user_id=ids["bob"], provider="openai", vault=vault).credentials is None
    mine = resolve(session=session, user_id=ids["alice"], provider="openai", vault=vault)
    assert mine.credentials is not None and mine.credentials.source == "user"
    assert not delete_user_key(session=session, user_id=ids["bob"], provider="openai")
    assert list_user_keys(session=session, user_id=ids["alice"])


def test_admin_functions_never_return_plaintext(engine, session, ids, vault) -> None:
    save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=SECRET, vault=vault)
    public = save_org_key(session=session, actor_id=ids["admin"], provider="openai", api_key=OTHER, vault=vault)
    listed = list_org_keys(session=session, actor_id=ids["admin"])
    text_ = repr(public) + repr(listed) + repr(list_user_keys(session=session, user_id=ids["alice"]))
    assert SECRET not in text_ and OTHER not in text_ and "ciphertext" not in text_
    assert listed[0].masked == "sk-…wxyz"
    with pytest.raises(PermissionDenied):
        list_org_keys(session=session, actor_id=ids["alice"])
    with pytest.raises(PermissionDenied):
        save_org_key(session=session, actor_id=ids["alice"], provider="openai", api_key=OTHER, vault=vault)
    with pytest.raises(PermissionDenied):
        decrypt_for_check(session=session, actor_id=ids["alice"], provider="openai", org=True, vault=vault)
    actions = session.exec(select(AuditEvent.action)).all()
    assert "keys.org_save" in actions and all(SECRET not in a for a in actions)


def test_resolution_order_and_policies(engine, session, ids, vault) -> None:
    save_org_key(session=session, actor_id=ids["admin"], provider="openai", api_key=OTHER, vault=vault)
    org = resolve(session=session, user_id=ids["bob"], provider="openai", vault=vault)
    assert org.credentials is not None and (org.credentials.source, org.credentials.api_key) == ("org", OTHER)
    save_user_key(session=session, user_id=ids["bob"], provider="openai", api_key=SECRET, vault=vault)
    own = resolve(session=session, user_id=ids["bob"], provider="openai", vault=vault)
    assert own.credentials is not None and own.credentials.api_key == SECRET
    set_policy(session=session, actor_id=ids["admin"], name=POLICY_BYOK, enabled=False)
    back = resolve(session=session, user_id=ids["bob"], provider="openai", vault=vault)
    assert back.credentials is not None and back.credentials.source == "org"
    with pytest.raises(ValidationError, match="does not allow personal keys"):
        save_user_key(session=session, user_id=ids["bob"], provider="anthropic", api_key=SECRET, vault=vault)
    set_policy(session=session, actor_id=ids["admin"], name=POLICY_ORG_FOR_ALL, enabled=False)
    none = resolve(session=session, user_id=ids["bob"], provider="openai", vault=vault)
    assert none.credentials is None and "for administrators" in (none.reason or "")
    assert resolve(session=session, user_id=ids["admin"], provider="openai", vault=vault).credentials is not None
    with pytest.raises(PermissionDenied):
        set_policy(session=session, actor_id=ids["bob"], name=POLICY_BYOK, enabled=True)


def test_check_key_against_the_provider_protocol(engine, session, ids, vault) -> None:
    server = FakeProviderServer().start()
    try:
        from core.config import ProviderCatalog
        from core.providers.base import Credentials
        from core.providers.openai import OpenAIProvider

        for key, expected in (("sk-good-key", "valid"), ("sk-wrong-key-123", "invalid")):
            save_user_key(session=session, user_id=ids["alice"], provider="openai", api_key=key, vault=vault)
            cred_id, plain, _ = decrypt_for_check(session=session, actor_id=ids["alice"], provider="openai",
                                                  vault=vault)
            check = OpenAIProvider(ProviderCatalog(base_url=server.openai_url, max_retries=0),
                                   Credentials()).validate_key(plain)
            record_check(session=session, credential_id=cred_id, check=check)
            [public] = list_user_keys(session=session, user_id=ids["alice"])
            assert (check.status, public.last_check_status) == (expected, expected)
            assert public.last_checked_at is not None
    finally:
        server.stop()


def test_compatible_key_needs_a_url(engine, session, ids, vault) -> None:
    with pytest.raises(ValidationError, match="http"):
        save_user_key(session=session, user_id=ids["alice"], provider="compatible", api_key=SECRET,
                      base_url="localhost:11434", vault=vault)
    saved = save_user_key(session=session, user_id=ids["alice"], provider="compatible", api_key=SECRET,
                          base_url="http://93.184.216.34:11434/v1", vault=vault)
    assert saved.base_url == "http://93.184.216.34:11434/v1"

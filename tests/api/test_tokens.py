"""Personal API tokens: shown once, stored as a keyed hash, refused once revoked or expired, admins revoke any."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from core.accounts import audit_log
from core.api import authenticate_token, create_token, list_all_tokens, list_tokens, revoke_token
from core.api.tokens import token_hash
from core.errors import AuthError, NotFound, PermissionDenied, ValidationError
from core.models import ApiToken, utcnow
from tests.conftest import add_user


def test_a_token_is_shown_once_and_only_its_keyed_hash_is_stored(engine, session: Session, database_url) -> None:
    alice = add_user(session, "alice")
    made = create_token(session=session, user_id=alice, name="ide plugin")
    assert made.token.startswith("pk-") and len(made.token) > 40
    assert made.public.masked == "pk-…" + made.token[-4:]
    row = session.exec(select(ApiToken)).one()
    assert row.token_hash == token_hash(made.token) != made.token
    with engine.connect() as conn:  # the raw bytes of every column, on both backends
        dump = " ".join(str(v) for r in conn.execute(text("SELECT * FROM apitoken")) for v in r)
    assert made.token not in dump and made.token[3:] not in dump
    assert [t.name for t in list_tokens(session=session, user_id=alice)] == ["ide plugin"]
    assert not hasattr(list_tokens(session=session, user_id=alice)[0], "token_hash")


def test_authentication_is_refused_once_revoked_or_expired(engine, session: Session) -> None:
    alice = add_user(session, "alice")
    made = create_token(session=session, user_id=alice, name="ci")
    caller = authenticate_token(session=session, token=made.token)
    assert (caller.user_id, caller.token_name) == (alice, "ci")
    assert session.get(ApiToken, made.public.id).last_used_at is not None  # type: ignore[union-attr]
    revoke_token(session=session, actor_id=alice, token_id=made.public.id)
    with pytest.raises(AuthError, match="revoked"):
        authenticate_token(session=session, token=made.token)
    later = create_token(session=session, user_id=alice, name="short", expires_at=utcnow() + timedelta(days=1))
    row = session.get(ApiToken, later.public.id)
    row.expires_at = utcnow() - timedelta(minutes=1)  # type: ignore[union-attr]
    session.commit()
    with pytest.raises(AuthError, match="expired"):
        authenticate_token(session=session, token=later.token)
    for bad in ("", "sk-notours", "pk-" + "x" * 43, "pk-" + "y" * 500):
        with pytest.raises(AuthError):
            authenticate_token(session=session, token=bad)


def test_token_names_expiry_and_count_are_checked(engine, session: Session, monkeypatch) -> None:
    alice = add_user(session, "alice")
    for name in ("", "   ", "x" * 61, "bad\x00name"):
        with pytest.raises(ValidationError):
            create_token(session=session, user_id=alice, name=name)
    for when in (utcnow() - timedelta(minutes=1), utcnow() + timedelta(days=400)):
        with pytest.raises(ValidationError, match="expiry"):
            create_token(session=session, user_id=alice, name="x", expires_at=when)
    monkeypatch.setenv("PARLEY_API__MAX_TOKENS_PER_USER", "2")
    from core.config import get_settings

    get_settings.cache_clear()
    create_token(session=session, user_id=alice, name="one")
    create_token(session=session, user_id=alice, name="two")
    with pytest.raises(ValidationError, match="2 active tokens"):
        create_token(session=session, user_id=alice, name="three")
    assert session.exec(select(ApiToken)).all().__len__() == 2


def test_admins_see_and_revoke_anyones_tokens_audited_users_cannot(engine, session: Session) -> None:
    admin = session.exec(text("SELECT id FROM \"user\" WHERE username = 'admin'")).scalar_one()  # type: ignore[call-overload]
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    made = create_token(session=session, user_id=alice, name="alice's script")
    with pytest.raises(PermissionDenied):
        list_all_tokens(session=session, actor_id=bob)
    with pytest.raises(NotFound):
        revoke_token(session=session, actor_id=bob, token_id=made.public.id)
    listed = list_all_tokens(session=session, actor_id=admin)
    assert [(t.owner, t.name) for t in listed] == [("alice", "alice's script")]
    assert made.token not in str([t.model_dump() for t in listed])
    revoke_token(session=session, actor_id=admin, token_id=made.public.id)
    entries = audit_log(session=session, actor_id=admin, action="tokens.")
    assert [(e.action, e.target) for e in entries][0] == ("tokens.admin_revoke", "alice: alice's script")
    assert {e.action for e in entries} >= {"tokens.create"}


def test_changing_the_token_key_ends_every_token(engine, session: Session, monkeypatch) -> None:
    alice = add_user(session, "alice")
    made = create_token(session=session, user_id=alice, name="ci")
    monkeypatch.setenv("PARLEY_API_TOKEN_KEY", "another-key-" + "k" * 40)
    from core.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(AuthError):
        authenticate_token(session=session, token=made.token)

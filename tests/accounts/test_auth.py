"""Auth rules: registration modes, login, throttling, revocation, first admin, role guard."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from core.accounts import (
    LoginThrottle,
    authenticate,
    bootstrap_admin,
    build_credentials,
    cookie_issued_at,
    register_user,
    revoke_sessions,
    set_role,
    set_status,
    validate_session,
)
from core.accounts.auth import get_user_by_username
from core.config import get_settings
from core.errors import AuthError, LoginThrottled, PermissionDenied, ValidationError
from core.models import AuditEvent, Role, User, UserCreate, UserStatus, utcnow
from tests.conftest import REDIS_URL

PASSWORD = "Correct-horse-9"


def _register(session: Session, username: str = "alice", **kw: str) -> User:
    user_in = UserCreate(username=username, email=kw.get("email", f"{username}@example.com"),
                         display_name=kw.get("name", username.title()), password=kw.get("password", PASSWORD))
    register_user(session=session, user_in=user_in)
    user = session.exec(select(User).where(User.username == username.lower())).first()
    assert user is not None
    return user


def _admin(session: Session) -> User:
    admin = get_user_by_username(session=session, username="admin")
    assert admin is not None
    return admin


@pytest.mark.parametrize("mode,status", [("approval", "pending"), ("open", "active")])
def test_register_status_follows_mode(engine, session: Session, monkeypatch, mode: str, status: str) -> None:
    monkeypatch.setenv("PARLEY_REGISTRATION", mode)
    get_settings.cache_clear()
    user = _register(session)
    assert user.status == status
    assert user.role == Role.user.value
    assert user.password_hash != PASSWORD and user.password_hash.startswith("$2")


def test_register_refused_when_closed_and_nothing_stored(engine, session: Session, monkeypatch) -> None:
    monkeypatch.setenv("PARLEY_REGISTRATION", "closed")
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="closed"):
        _register(session)
    assert get_user_by_username(session=session, username="alice") is None


def test_pending_user_cannot_log_in_until_approved(engine, session: Session) -> None:
    user = _register(session)
    with pytest.raises(AuthError, match="approval"):
        authenticate(session=session, username="alice", password=PASSWORD)
    set_status(session=session, actor_id=_admin(session).id, user_id=user.id, status=UserStatus.active)
    result = authenticate(session=session, username="ALICE ", password=PASSWORD)
    assert result.user.username == "alice"
    actions = session.exec(select(AuditEvent.action)).all()
    assert "user.approve" in actions


def test_disabled_user_cannot_log_in(engine, session: Session) -> None:
    user = _register(session)
    admin = _admin(session)
    set_status(session=session, actor_id=admin.id, user_id=user.id, status=UserStatus.active)
    set_status(session=session, actor_id=admin.id, user_id=user.id, status=UserStatus.disabled)
    with pytest.raises(AuthError, match="disabled"):
        authenticate(session=session, username="alice", password=PASSWORD)


def test_wrong_password_and_unknown_user_get_the_same_message(engine, session: Session) -> None:
    with pytest.raises(AuthError) as wrong:
        authenticate(session=session, username="admin", password="nope-nope-1")
    with pytest.raises(AuthError) as unknown:
        authenticate(session=session, username="ghost", password="nope-nope-1")
    assert wrong.value.user_message == unknown.value.user_message
    assert _admin(session).failed_login_attempts == 1


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("username", "a" * 33, "3 to 32"),
        ("username", "al ice", "may contain only"),
        ("username", "'; DROP TABLE user;--", "may contain only"),
        ("email", "not-an-email", "not valid"),
        ("email", "x" * 250 + "@e.com", "at most"),
        ("name", "n" * 101, "at most 100"),
        ("name", "Bad\x00Name", "control"),
        ("password", "short", "at least"),
        ("password", "é" * 40, "72 bytes"),
    ],
)
def test_bad_registration_input_gets_clear_message_and_stores_nothing(
    engine, session: Session, field: str, value: str, message: str
) -> None:
    kwargs = {field: value}
    username = kwargs.pop("username", "bob")
    with pytest.raises(ValidationError, match=message):
        _register(session, username, **kwargs)
    session.rollback()
    assert session.exec(select(User).where(User.username != "admin")).all() == []


def test_unicode_and_html_names_are_stored_verbatim(engine, session: Session) -> None:
    user = _register(session, "jiwoo", name="김지우 <b>&amp;</b> 🚀")
    assert user.display_name == "김지우 <b>&amp;</b> 🚀"


def test_duplicate_username_and_email_create_nothing_and_answer_like_a_sign_up(engine, session: Session) -> None:
    first = _register(session, "alice")
    for username, email in (("Alice", "other@example.com"), ("alice2", "ALICE@example.com")):
        status = register_user(session=session, user_in=UserCreate(username=username, email=email, display_name="X",
                                                                   password=PASSWORD))
        assert status == UserStatus.pending  # what a new account would get: nothing says the name exists
    users = session.exec(select(User).where(User.username.in_(["alice", "alice2"]))).all()  # type: ignore[attr-defined]
    assert [u.id for u in users] == [first.id]
    actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("user.register_taken") == 2


def test_throttle_locks_username_after_five_failures_even_for_right_password(engine, session: Session) -> None:
    throttle = LoginThrottle()
    for _ in range(5):
        with pytest.raises(AuthError) as info:
            authenticate(session=session, username="admin", password="wrong-pass-1", throttle=throttle)
        assert not isinstance(info.value, LoginThrottled)
    with pytest.raises(LoginThrottled) as locked:
        authenticate(session=session, username="admin", password="Admin-pass-123", throttle=throttle)
    assert 14 * 60 <= locked.value.retry_after_seconds <= 15 * 60
    assert "15 min" in locked.value.user_message


def test_success_before_limit_resets_the_failure_count(engine, session: Session) -> None:
    throttle = LoginThrottle()
    for _ in range(4):
        with pytest.raises(AuthError):
            authenticate(session=session, username="admin", password="wrong-pass-1", throttle=throttle)
    authenticate(session=session, username="admin", password="Admin-pass-123", throttle=throttle)
    for _ in range(4):
        with pytest.raises(AuthError) as info:
            authenticate(session=session, username="admin", password="wrong-pass-1", throttle=throttle)
        assert not isinstance(info.value, LoginThrottled)


def test_throttle_per_client_address_covers_many_usernames(parley_env) -> None:
    throttle = LoginThrottle()
    for i in range(20):
        throttle.record_failure(f"user{i}", client="203.0.113.9")
    with pytest.raises(LoginThrottled):
        throttle.check("someone-new", client="203.0.113.9")
    throttle.check("someone-new", client="198.51.100.1")  # another client is not affected


@pytest.mark.skipif(not REDIS_URL, reason="PARLEY_TEST_REDIS_URL not set")
def test_throttle_holds_across_instances_through_redis(parley_env) -> None:
    name = f"redis-{uuid.uuid4().hex[:8]}"
    first, second = LoginThrottle(storage_uri_override=REDIS_URL), LoginThrottle(storage_uri_override=REDIS_URL)
    for instance in [first, second, first, second, first]:
        instance.attempt(name)  # what authenticate() does: count, check the password, record the failure
        instance.record_failure(name)
    with pytest.raises(LoginThrottled):
        second.check(name)


def test_revocation_refuses_sessions_issued_before(engine, session: Session) -> None:
    admin = _admin(session)
    issued = utcnow()
    assert validate_session(session=session, username="admin", issued_at=issued).id == admin.id
    revoke_sessions(session=session, user_id=admin.id)
    with pytest.raises(AuthError, match="ended"):
        validate_session(session=session, username="admin", issued_at=issued)
    assert validate_session(session=session, username="admin", issued_at=utcnow() + timedelta(seconds=1))


def test_disabling_revokes_existing_sessions(engine, session: Session) -> None:
    user = _register(session)
    admin = _admin(session)
    set_status(session=session, actor_id=admin.id, user_id=user.id, status=UserStatus.active)
    issued = authenticate(session=session, username="alice", password=PASSWORD).logged_in_at
    set_status(session=session, actor_id=admin.id, user_id=user.id, status=UserStatus.disabled)
    set_status(session=session, actor_id=admin.id, user_id=user.id, status=UserStatus.active)
    with pytest.raises(AuthError):  # re-enabling does not resurrect the old cookie
        validate_session(session=session, username="alice", issued_at=issued)


def test_cookie_issue_time_is_the_signed_claim() -> None:
    now = utcnow()
    issued = cookie_issued_at({"username": "a", "exp_date": (now + timedelta(days=7)).timestamp(),
                               "iat": now.timestamp()})
    assert issued is not None and abs((issued - now).total_seconds()) < 0.001
    assert cookie_issued_at({"username": "a", "exp_date": now.timestamp()}) is None  # no claim: refused
    assert cookie_issued_at({"iat": "garbage"}) is None
    assert cookie_issued_at({"iat": 1e300}) is None


def test_credentials_hold_active_users_only(engine, session: Session) -> None:
    _register(session)  # pending
    creds = build_credentials(session=session)
    assert set(creds["usernames"]) == {"admin"}
    assert creds["usernames"]["admin"]["roles"] == ["admin"]


def test_first_admin_created_once_with_configured_password(engine, session: Session) -> None:
    assert authenticate(session=session, username="admin", password="Admin-pass-123")
    assert bootstrap_admin(session=session) is None  # an admin exists: nothing happens
    admins = session.exec(select(User).where(User.role == Role.admin.value)).all()
    assert len(admins) == 1


def test_first_admin_gets_random_password_when_none_configured(database_url, monkeypatch) -> None:
    monkeypatch.delenv("PARLEY_ADMIN_PASSWORD")
    get_settings.cache_clear()
    from core import db

    engine = db.ensure_migrated()
    with Session(engine) as session:
        first = bootstrap_admin(session=session)
        assert first is not None and first.generated_password
        assert authenticate(session=session, username=first.username, password=first.generated_password)


def test_non_admin_is_refused_at_function_level(engine, session: Session, monkeypatch) -> None:
    monkeypatch.setenv("PARLEY_REGISTRATION", "open")
    get_settings.cache_clear()
    user = _register(session)
    with pytest.raises(PermissionDenied):
        set_role(session=session, actor_id=user.id, user_id=user.id, role=Role.admin)
    with pytest.raises(PermissionDenied):
        set_status(session=session, actor_id=user.id, user_id=_admin(session).id, status=UserStatus.disabled)


def test_last_active_admin_cannot_be_demoted_or_disabled(engine, session: Session) -> None:
    admin = _admin(session)
    with pytest.raises(ValidationError, match="At least one"):
        set_role(session=session, actor_id=admin.id, user_id=admin.id, role=Role.user)
    with pytest.raises(ValidationError, match="At least one"):
        set_status(session=session, actor_id=admin.id, user_id=admin.id, status=UserStatus.disabled)


def test_audit_log_filters_and_admin_only(engine, session: Session) -> None:
    from core.accounts import audit_log

    admin = _admin(session)
    user = _register(session)
    set_status(session=session, actor_id=admin.id, user_id=user.id, status=UserStatus.active)
    set_role(session=session, actor_id=admin.id, user_id=user.id, role=Role.admin)
    actions = [e.action for e in audit_log(session=session, actor_id=admin.id, action="user.set")]
    assert actions == ["user.set_role"]
    assert {e.action for e in audit_log(session=session, actor_id=admin.id, actor="admin")} >= {
        "user.approve", "user.set_role"}
    assert [e.actor for e in audit_log(session=session, actor_id=admin.id, action="user.register")] == ["alice"]
    assert audit_log(session=session, actor_id=admin.id, start=utcnow() + timedelta(minutes=1)) == []
    assert audit_log(session=session, actor_id=admin.id, target="alice")
    set_role(session=session, actor_id=admin.id, user_id=user.id, role=Role.user)
    with pytest.raises(PermissionDenied):
        audit_log(session=session, actor_id=user.id)

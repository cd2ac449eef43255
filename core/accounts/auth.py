"""Authentication: password hashing, login with throttling, session validity and revocation.

streamlit-authenticator is wired in core.ui.auth; this module holds the rules and talks to the
database only, so it is usable (and tested) without Streamlit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bcrypt
import jwt
from sqlmodel import Session, select

from core.accounts.throttle import LoginThrottle
from core.errors import AuthError
from core.i18n import Msg
from core.logging import log_event
from core.models import USERNAME_MAX, User, UserPublic, UserStatus, utcnow

logger = logging.getLogger(__name__)

# Verifying against this when the user does not exist keeps the timing equal (no user enumeration).
_DUMMY_HASH = bcrypt.hashpw(b"parley-dummy-password", bcrypt.gensalt()).decode()
BAD_CREDENTIALS = Msg("auth.bad_credentials")
PASSWORD_MAX_CHARS = 1024  # bcrypt reads 72 bytes; anything this long is not a password
STATUS_MESSAGES = {
    UserStatus.pending: Msg("auth.pending"),
    UserStatus.disabled: Msg("auth.disabled"),
}


def hash_password(password: str) -> str:
    """bcrypt hash, the same format streamlit-authenticator's Hasher writes and checks."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode()


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("utf-8"))
    except ValueError:  # over 72 bytes or a malformed hash: never a match
        return False


def get_user_by_username(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


@dataclass(frozen=True)
class LoginResult:
    user: UserPublic
    logged_in_at: datetime


def authenticate(
    *,
    session: Session,
    username: str,
    password: str,
    client: str | None = None,
    throttle: LoginThrottle | None = None,
) -> LoginResult:
    """Check a username/password pair; raise AuthError (or LoginThrottled) with a clear message."""
    throttle = throttle or LoginThrottle()
    name = (username or "").strip().lower()
    if not name or not password:
        raise AuthError(Msg("auth.enter_credentials"))
    if len(name) > USERNAME_MAX or len(password) > PASSWORD_MAX_CHARS:
        # No such account can exist: refused before it reaches the throttle's storage (no 5 MB keys in Redis),
        # still counted against the client address.
        throttle.record_failure(None, client)
        raise AuthError(BAD_CREDENTIALS)
    throttle.attempt(name, client)  # counted before the password is checked: parallel guesses cannot race
    user = get_user_by_username(session=session, username=name)
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    if not ok or user is None:
        throttle.record_failure(name, client)
        if user is not None:
            user.failed_login_attempts += 1
            session.add(user)
            session.commit()
        log_event(logger, "login failed", username_known=user is not None)
        raise AuthError(BAD_CREDENTIALS)
    # Status is told only after the password matched, so it reveals nothing to a guesser.
    if user.status != UserStatus.active:
        raise AuthError(STATUS_MESSAGES.get(user.status, BAD_CREDENTIALS))
    throttle.reset(name)
    now = utcnow()
    user.failed_login_attempts = 0
    user.last_login_at = now
    session.add(user)
    session.commit()
    log_event(logger, "login", user_id=user.id)
    return LoginResult(user=UserPublic.model_validate(user), logged_in_at=now)


def validate_session(*, session: Session, username: str, issued_at: datetime) -> UserPublic:
    """The user behind a live session or cookie, or AuthError if it was revoked meanwhile."""
    user = get_user_by_username(session=session, username=username or "")
    if user is None:
        raise AuthError(Msg("auth.session_ended"))
    if user.status != UserStatus.active:
        raise AuthError(STATUS_MESSAGES.get(user.status, Msg("auth.session_ended_short")))
    if issued_at < user.sessions_valid_after:
        raise AuthError(Msg("auth.session_ended"))
    return UserPublic.model_validate(user)


def revoke_sessions(*, session: Session, user_id: int) -> datetime:
    """Invalidate every session and cookie of a user issued before now (logout everywhere)."""
    user = session.get(User, user_id)
    now = utcnow()
    if user is not None:
        user.sessions_valid_after = now
        session.add(user)
        session.commit()
    return now


def cookie_issued_at(token: dict[str, Any]) -> datetime | None:
    """When the cookie was issued: the `iat` claim Parley signs into it; None (the cookie is refused) without one.

    Not exp_date minus today's cookie lifetime: lowering the lifetime would move that back in time and revive
    cookies revoked since.
    """
    try:
        return datetime.fromtimestamp(float(token["iat"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def build_credentials(*, session: Session) -> dict[str, Any]:
    """streamlit-authenticator's credentials dict, fresh from the database (active users only)."""
    users = session.exec(select(User).where(User.status == UserStatus.active)).all()
    return {
        "usernames": {
            user.username: {
                "email": user.email,
                "name": user.display_name,
                "password": user.password_hash,
                "roles": [user.role.value],
                "failed_login_attempts": user.failed_login_attempts,
                "logged_in": False,
            }
            for user in users
        }
    }


def cookie_token(*, username: str, issued_at: datetime, exp_date: float, key: str) -> str:
    """The re-login cookie's value: streamlit-authenticator's HS256 JWT {username, exp_date}, plus the issue time."""
    claims = {"username": username, "exp_date": exp_date, "iat": issued_at.timestamp()}
    return jwt.encode(claims, key, algorithm="HS256")

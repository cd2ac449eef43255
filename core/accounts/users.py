"""Accounts a person manages: registration, their own profile and password."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.accounts.audit import record_audit
from core.accounts.auth import hash_password, revoke_sessions, verify_password
from core.accounts.throttle import LoginThrottle
from core.config import Settings, get_settings
from core.errors import ConflictError, NotFound, ValidationError
from core.i18n import Msg
from core.logging import log_event
from core.models import Role, User, UserCreate, UserPublic, UserStatus, UserUpdate
from core.validation import check_password, clean_display_name, clean_email, clean_username

logger = logging.getLogger(__name__)


def ensure_unique(session: Session, *, username: str | None, email: str | None, exclude: int | None = None) -> None:
    """ConflictError when another account already has the username or email."""
    if username is not None:
        taken = session.exec(select(User.id).where(User.username == username)).first()
        if taken is not None and taken != exclude:
            raise ConflictError(Msg("users.username_taken"))
    if email is not None:
        taken = session.exec(select(User.id).where(User.email == email)).first()
        if taken is not None and taken != exclude:
            raise ConflictError(Msg("users.email_taken"))


def commit_unique(session: Session) -> None:
    """Commit; the unique indexes are the last word when two requests race past ensure_unique."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(Msg("users.taken")) from None


def new_user(session: Session, user_in: UserCreate, status: UserStatus, settings: Settings) -> User:
    """A validated, unique account with a hashed password, added to the session."""
    username = clean_username(user_in.username)
    email = clean_email(user_in.email)
    display_name = clean_display_name(user_in.display_name)
    check_password(user_in.password, min_length=settings.password.min_length)
    ensure_unique(session, username=username, email=email)
    user = User(username=username, email=email, display_name=display_name,
                password_hash=hash_password(user_in.password), role=Role(user_in.role), status=status)
    session.add(user)
    return user


def get_user(session: Session, user_id: int) -> User:
    """The user, or NotFound."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(Msg("users.not_found"))
    return user


def register_user(*, session: Session, user_in: UserCreate, settings: Settings | None = None,
                  client: str | None = None, throttle: LoginThrottle | None = None) -> UserStatus:
    """Self-registration: refused when closed, pending in approval mode, active when open.

    Returns the status a new account gets, whether or not the username or email was taken: the answer must not
    tell a stranger which names exist (a taken one creates nothing, costs the same bcrypt time, and is
    audited). Sign-ups are throttled per client address.
    """
    settings = settings or get_settings()
    if settings.registration == "closed":
        raise ValidationError(Msg("users.registration_closed"))
    (throttle or LoginThrottle(settings)).registration(client)
    user_in = user_in.model_copy(update={"role": Role.user})  # nobody registers as admin
    status = UserStatus.pending if settings.registration == "approval" else UserStatus.active
    try:
        user = new_user(session, user_in, status, settings)
        session.flush()
        record_audit(session=session, actor_id=user.id, action="user.register", target=user.username,
                     detail={"status": status.value})
        commit_unique(session)
    except ConflictError:
        session.rollback()
        hash_password(user_in.password)  # the same time as a real sign-up
        record_audit(session=session, actor_id=None, action="user.register_taken", target=user_in.username[:64])
        session.commit()
        log_event(logger, "registration with a taken name or email")
        return status
    log_event(logger, "user registered", user_id=user.id, status=status.value)
    return status


def update_profile(*, session: Session, user_id: int, user_in: UserUpdate) -> UserPublic:
    """Change one's own display name and/or email."""
    user = get_user(session, user_id)
    if user_in.display_name is not None:
        user.display_name = clean_display_name(user_in.display_name)
    if user_in.email is not None:
        email = clean_email(user_in.email)
        ensure_unique(session, username=None, email=email, exclude=user.id)
        user.email = email
    session.add(user)
    commit_unique(session)
    return UserPublic.model_validate(user)


def change_password(
    *, session: Session, user_id: int, current: str, new: str, repeat: str, settings: Settings | None = None,
    throttle: LoginThrottle | None = None,
) -> None:
    """Change one's own password; every other session of the user ends.

    Checking the current password is a login attempt: the same throttle counts it (a stolen session must not
    become a way to guess the password).
    """
    settings = settings or get_settings()
    throttle = throttle or LoginThrottle(settings)
    user = get_user(session, user_id)
    throttle.attempt(user.username)
    if not verify_password(current or "", user.password_hash):
        throttle.record_failure(user.username)
        raise ValidationError(Msg("users.wrong_password"))
    throttle.reset(user.username)
    if new != repeat:
        raise ValidationError(Msg("users.passwords_differ"))
    check_password(new, min_length=settings.password.min_length)
    user.password_hash = hash_password(new)
    session.add(user)
    session.commit()
    revoke_sessions(session=session, user_id=user.id or 0)
    log_event(logger, "password changed", user_id=user.id)

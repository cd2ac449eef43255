"""User accounts: registration, profile, and the admin actions on users (each one audited)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from core.audit import list_audit, record_audit
from core.auth import hash_password, revoke_sessions, verify_password
from core.config import Settings, get_settings
from core.errors import ConflictError, NotFound, PermissionDenied, ValidationError
from core.i18n import Msg
from core.logging import log_event
from core.models import AuditEventPublic, Role, User, UserCreate, UserPublic, UserStatus, UserUpdate, utcnow
from core.validation import check_password, clean_display_name, clean_email, clean_username

logger = logging.getLogger(__name__)


def _ensure_unique(session: Session, *, username: str | None, email: str | None, exclude: int | None = None) -> None:
    if username is not None:
        taken = session.exec(select(User.id).where(User.username == username)).first()
        if taken is not None and taken != exclude:
            raise ConflictError(Msg("users.username_taken"))
    if email is not None:
        taken = session.exec(select(User.id).where(User.email == email)).first()
        if taken is not None and taken != exclude:
            raise ConflictError(Msg("users.email_taken"))


def _commit_unique(session: Session) -> None:
    # The unique indexes are the last word when two requests race past _ensure_unique.
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(Msg("users.taken")) from None


def _new_user(session: Session, user_in: UserCreate, status: UserStatus, settings: Settings) -> User:
    username = clean_username(user_in.username)
    email = clean_email(user_in.email)
    display_name = clean_display_name(user_in.display_name)
    check_password(user_in.password, min_length=settings.password.min_length)
    _ensure_unique(session, username=username, email=email)
    user = User(
        username=username,
        email=email,
        display_name=display_name,
        password_hash=hash_password(user_in.password),
        role=Role(user_in.role).value,
        status=status.value,
    )
    session.add(user)
    return user


def register_user(*, session: Session, user_in: UserCreate, settings: Settings | None = None) -> UserPublic:
    """Self-registration: refused when closed, pending in approval mode, active when open."""
    settings = settings or get_settings()
    if settings.registration == "closed":
        raise ValidationError(Msg("users.registration_closed"))
    user_in = user_in.model_copy(update={"role": Role.user})  # nobody registers as admin
    status = UserStatus.pending if settings.registration == "approval" else UserStatus.active
    user = _new_user(session, user_in, status, settings)
    session.flush()
    record_audit(session=session, actor_id=user.id, action="user.register", target=user.username,
                 detail={"status": status.value})
    _commit_unique(session)
    log_event(logger, "user registered", user_id=user.id, status=status.value)
    return UserPublic.model_validate(user)


def require_admin(*, session: Session, actor_id: int) -> User:
    """The acting user if they are an active admin; PermissionDenied otherwise."""
    actor = session.get(User, actor_id)
    if actor is None or actor.role != Role.admin.value or actor.status != UserStatus.active.value:
        raise PermissionDenied()
    return actor


def list_users(*, session: Session, actor_id: int) -> list[UserPublic]:
    """Every user, pending first then by name (admins only)."""
    require_admin(session=session, actor_id=actor_id)
    pending_first = col(User.status) != UserStatus.pending.value
    users = session.exec(select(User).order_by(pending_first, col(User.username))).all()
    return [UserPublic.model_validate(user) for user in users]


def audit_log(*, session: Session, actor_id: int, limit: int = 200, **filters: Any) -> list[AuditEventPublic]:
    """The newest audit entries, filtered (admins only; nothing in the UI can edit them)."""
    require_admin(session=session, actor_id=actor_id)
    return list_audit(session=session, limit=limit, **filters)


def create_user(
    *, session: Session, actor_id: int, user_in: UserCreate, settings: Settings | None = None
) -> UserPublic:
    """An admin creates an active account (works whatever the registration mode)."""
    require_admin(session=session, actor_id=actor_id)
    user = _new_user(session, user_in, UserStatus.active, settings or get_settings())
    session.flush()
    record_audit(session=session, actor_id=actor_id, action="user.create", target=user.username,
                 detail={"role": user.role})
    _commit_unique(session)
    return UserPublic.model_validate(user)


def _target(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(Msg("users.not_found"))
    return user


def _active_admins(session: Session) -> int:
    return session.exec(
        select(func.count()).select_from(User).where(
            User.role == Role.admin.value, User.status == UserStatus.active.value
        )
    ).one()


def _guard_last_admin(session: Session, target: User) -> None:
    if target.role == Role.admin.value and target.status == UserStatus.active.value and _active_admins(session) <= 1:
        raise ValidationError(Msg("users.last_admin"))


def set_status(*, session: Session, actor_id: int, user_id: int, status: UserStatus) -> UserPublic:
    """Approve (pending->active), disable or enable a user; disabling ends their sessions."""
    require_admin(session=session, actor_id=actor_id)
    user = _target(session, user_id)
    status = UserStatus(status)
    if user.status == status.value:
        return UserPublic.model_validate(user)
    if status != UserStatus.active:
        _guard_last_admin(session, user)
    action = {
        UserStatus.active: "user.approve" if user.status == UserStatus.pending.value else "user.enable",
        UserStatus.disabled: "user.disable",
        UserStatus.pending: "user.set_pending",
    }[status]
    record_audit(session=session, actor_id=actor_id, action=action, target=user.username,
                 detail={"from": user.status, "to": status.value})
    user.status = status.value
    if status != UserStatus.active:
        user.sessions_valid_after = utcnow()  # a copied cookie stops working at once
    session.add(user)
    session.commit()
    log_event(logger, action, user_id=actor_id, target_id=user.id)
    return UserPublic.model_validate(user)


def set_role(*, session: Session, actor_id: int, user_id: int, role: Role) -> UserPublic:
    """Make a user an admin or a plain user."""
    require_admin(session=session, actor_id=actor_id)
    user = _target(session, user_id)
    role = Role(role)
    if user.role == role.value:
        return UserPublic.model_validate(user)
    if role != Role.admin:
        _guard_last_admin(session, user)
    record_audit(session=session, actor_id=actor_id, action="user.set_role", target=user.username,
                 detail={"from": user.role, "to": role.value})
    user.role = role.value
    session.add(user)
    session.commit()
    return UserPublic.model_validate(user)


def reset_password(*, session: Session, actor_id: int, user_id: int) -> str:
    """Give a user a new random password (shown once to the admin) and end their sessions."""
    require_admin(session=session, actor_id=actor_id)
    user = _target(session, user_id)
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    user.sessions_valid_after = utcnow()
    user.failed_login_attempts = 0
    session.add(user)
    record_audit(session=session, actor_id=actor_id, action="user.reset_password", target=user.username)
    session.commit()
    return password


def update_profile(*, session: Session, user_id: int, user_in: UserUpdate) -> UserPublic:
    """Change one's own display name and/or email."""
    user = _target(session, user_id)
    if user_in.display_name is not None:
        user.display_name = clean_display_name(user_in.display_name)
    if user_in.email is not None:
        email = clean_email(user_in.email)
        _ensure_unique(session, username=None, email=email, exclude=user.id)
        user.email = email
    session.add(user)
    _commit_unique(session)
    return UserPublic.model_validate(user)


def change_password(
    *, session: Session, user_id: int, current: str, new: str, repeat: str, settings: Settings | None = None
) -> None:
    """Change one's own password; every other session of the user ends."""
    settings = settings or get_settings()
    user = _target(session, user_id)
    if not verify_password(current or "", user.password_hash):
        raise ValidationError(Msg("users.wrong_password"))
    if new != repeat:
        raise ValidationError(Msg("users.passwords_differ"))
    check_password(new, min_length=settings.password.min_length)
    user.password_hash = hash_password(new)
    session.add(user)
    session.commit()
    revoke_sessions(session=session, user_id=user.id or 0)
    log_event(logger, "password changed", user_id=user.id)

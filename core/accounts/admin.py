"""What admins do to accounts: list, create, approve, disable/enable, change role, reset password (all audited)."""

from __future__ import annotations

import logging
import secrets

from sqlmodel import Session, col, func, select

from core.accounts.audit import record_audit
from core.accounts.auth import hash_password
from core.accounts.guards import require_admin
from core.accounts.users import commit_unique, get_user, new_user
from core.config import Settings, get_settings
from core.errors import ValidationError
from core.i18n import Msg
from core.logging import log_event
from core.models import Role, User, UserCreate, UserPublic, UserStatus, utcnow

logger = logging.getLogger(__name__)


def list_users(*, session: Session, actor_id: int) -> list[UserPublic]:
    """Every user, pending first then by name (admins only)."""
    require_admin(session=session, actor_id=actor_id)
    pending_first = col(User.status) != UserStatus.pending
    users = session.exec(select(User).order_by(pending_first, col(User.username))).all()
    return [UserPublic.model_validate(user) for user in users]


def create_user(
    *, session: Session, actor_id: int, user_in: UserCreate, settings: Settings | None = None
) -> UserPublic:
    """An admin creates an active account (works whatever the registration mode)."""
    require_admin(session=session, actor_id=actor_id)
    user = new_user(session, user_in, UserStatus.active, settings or get_settings())
    session.flush()
    record_audit(session=session, actor_id=actor_id, action="user.create", target=user.username,
                 detail={"role": user.role.value})
    commit_unique(session)
    return UserPublic.model_validate(user)


def _is_last_active_admin(session: Session, user: User) -> bool:
    if user.role != Role.admin or user.status != UserStatus.active:
        return False
    admins = session.exec(select(func.count()).select_from(User).where(
        User.role == Role.admin, User.status == UserStatus.active)).one()
    return admins <= 1


def _change(session: Session, *, actor_id: int, user: User, field: str, value: Role | UserStatus, action: str,
            demotes: bool) -> None:
    """Set one of the user's enum fields, audited; the last active admin can be neither demoted nor disabled."""
    if demotes and _is_last_active_admin(session, user):
        raise ValidationError(Msg("users.last_admin"))
    before = getattr(user, field)
    record_audit(session=session, actor_id=actor_id, action=action, target=user.username,
                 detail={"from": before.value, "to": value.value})
    setattr(user, field, value)
    session.add(user)


def set_status(*, session: Session, actor_id: int, user_id: int, status: UserStatus) -> UserPublic:
    """Approve (pending->active), disable or enable a user; disabling ends their sessions."""
    require_admin(session=session, actor_id=actor_id)
    user, status = get_user(session, user_id), UserStatus(status)
    if user.status == status:
        return UserPublic.model_validate(user)
    action = {
        UserStatus.active: "user.approve" if user.status == UserStatus.pending else "user.enable",
        UserStatus.disabled: "user.disable",
        UserStatus.pending: "user.set_pending",
    }[status]
    _change(session, actor_id=actor_id, user=user, field="status", value=status, action=action,
            demotes=status != UserStatus.active)
    if status != UserStatus.active:
        user.sessions_valid_after = utcnow()  # a copied cookie stops working at once
    session.commit()
    log_event(logger, action, user_id=actor_id, target_id=user.id)
    return UserPublic.model_validate(user)


def set_role(*, session: Session, actor_id: int, user_id: int, role: Role) -> UserPublic:
    """Make a user an admin or a plain user."""
    require_admin(session=session, actor_id=actor_id)
    user, role = get_user(session, user_id), Role(role)
    if user.role != role:
        _change(session, actor_id=actor_id, user=user, field="role", value=role, action="user.set_role",
                demotes=role != Role.admin)
        session.commit()
    return UserPublic.model_validate(user)


def reset_password(*, session: Session, actor_id: int, user_id: int) -> str:
    """Give a user a new random password (shown once to the admin) and end their sessions."""
    require_admin(session=session, actor_id=actor_id)
    user = get_user(session, user_id)
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    user.sessions_valid_after = utcnow()
    user.failed_login_attempts = 0
    session.add(user)
    record_audit(session=session, actor_id=actor_id, action="user.reset_password", target=user.username)
    session.commit()
    return password

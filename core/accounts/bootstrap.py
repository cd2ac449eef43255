"""The first admin: created at start-up when no admin exists (password from the environment or random)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlmodel import Session, func, select

from core.accounts.audit import record_audit
from core.accounts.auth import get_user_by_username, hash_password
from core.config import Settings, get_settings
from core.logging import log_event
from core.models import Role, User, UserStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirstAdmin:
    username: str
    generated_password: str | None  # None when PARLEY_ADMIN_PASSWORD gave it


def bootstrap_admin(*, session: Session, settings: Settings | None = None) -> FirstAdmin | None:
    """Create the first admin when no admin exists (password from the environment or random)."""
    settings = settings or get_settings()
    admins = session.exec(
        select(func.count()).select_from(User).where(User.role == Role.admin)
    ).one()
    if admins:
        return None
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = given or secrets.token_urlsafe(12)
    existing = get_user_by_username(session=session, username="admin")
    if existing is not None:
        # A non-admin already took the name: promote nobody silently; use a free name instead.
        username = f"admin-{secrets.token_hex(2)}"
    else:
        username = "admin"
    admin = User(
        username=username,
        email=f"{username}@localhost",
        display_name="Administrator",
        password_hash=hash_password(password),
        role=Role.admin,
        status=UserStatus.active,
    )
    session.add(admin)
    session.flush()
    record_audit(session=session, actor_id=None, action="user.bootstrap_admin", target=username)
    session.commit()
    log_event(logger, "first admin created", username=username, generated=given is None)
    return FirstAdmin(username=username, generated_password=None if given else password)

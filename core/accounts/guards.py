"""Guards every core function calls before it acts: pages check roles too, but a URL or a script can skip a page."""

from __future__ import annotations

from sqlmodel import Session

from core.errors import PermissionDenied
from core.models import Role, User, UserStatus


def require_admin(*, session: Session, actor_id: int) -> User:
    """The acting user if they are an active admin; PermissionDenied otherwise."""
    actor = session.get(User, actor_id)
    if actor is None or actor.role != Role.admin or actor.status != UserStatus.active:
        raise PermissionDenied()
    return actor


def is_admin(*, session: Session, user_id: int) -> bool:
    """Whether the user is an admin (any status: callers that act check require_admin)."""
    user = session.get(User, user_id)
    return user is not None and user.role == Role.admin

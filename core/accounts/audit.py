"""The audit trail: every admin action is written here, in the same transaction as the action."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from core.accounts.guards import require_admin
from core.models import AuditEvent, AuditEventPublic, User


def record_audit(
    *,
    session: Session,
    actor_id: int | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit entry to the session (committed with the action it records)."""
    event = AuditEvent(
        actor_id=actor_id,
        action=action,
        target=target[:255],
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
    )
    session.add(event)
    return event


def audit_log(
    *, session: Session, actor_id: int, limit: int = 200, action: str | None = None, actor: str | None = None,
    target: str | None = None, start: datetime | None = None, end: datetime | None = None,
) -> list[AuditEventPublic]:
    """Newest audit entries first, with the actor's username; action matches a prefix ("user.").

    Admins only; nothing in the UI can edit them.
    """
    require_admin(session=session, actor_id=actor_id)
    stmt = select(AuditEvent, User.username).join(User, col(AuditEvent.actor_id) == col(User.id), isouter=True)
    if action:
        stmt = stmt.where(col(AuditEvent.action).startswith(action))
    if actor:
        stmt = stmt.where(User.username == actor.strip().lower())
    if target:
        stmt = stmt.where(col(AuditEvent.target).contains(target.strip()))
    if start:
        stmt = stmt.where(col(AuditEvent.created_at) >= start)
    if end:
        stmt = stmt.where(col(AuditEvent.created_at) < end)
    rows = session.exec(
        stmt.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc()).limit(limit)
    ).all()
    return [
        AuditEventPublic.model_validate(event, update={"actor": username})
        for event, username in rows
    ]

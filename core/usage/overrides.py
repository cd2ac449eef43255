"""Admin overrides of one user's limits (audited). Role defaults live in config.yaml."""

from __future__ import annotations

from sqlmodel import Session, select

from core.accounts import record_audit, require_admin
from core.errors import NotFound, ValidationError
from core.i18n import Msg
from core.models import LimitPolicy, LimitPolicyUpdate, User, utcnow

LIMIT_MAX = 2_000_000_000


def get_user_limits(*, session: Session, actor_id: int, user_id: int) -> LimitPolicyUpdate:
    """The user's own overrides (None fields follow the role default)."""
    require_admin(session=session, actor_id=actor_id)
    policy = session.exec(select(LimitPolicy).where(LimitPolicy.user_id == user_id)).first()
    return LimitPolicyUpdate.model_validate(policy) if policy else LimitPolicyUpdate()


def set_user_limits(
    *, session: Session, actor_id: int, user_id: int, limits_in: LimitPolicyUpdate
) -> LimitPolicyUpdate:
    """Store a user's overrides (a field left None follows the role default); returns them."""
    require_admin(session=session, actor_id=actor_id)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(Msg("users.not_found"))
    values = limits_in.model_dump()
    if any(v is not None and v < 0 for v in values.values()):
        raise ValidationError(Msg("limits.negative"))
    if any(v is not None and v > LIMIT_MAX for v in values.values()):
        raise ValidationError(Msg("limits.too_large", max=f"{LIMIT_MAX:,}"))  # the columns are 32-bit integers
    policy = session.exec(select(LimitPolicy).where(LimitPolicy.user_id == user_id)).first()
    before = LimitPolicyUpdate.model_validate(policy).model_dump() if policy else {}
    policy = policy or LimitPolicy(user_id=user_id)
    for field, value in values.items():
        setattr(policy, field, value)
    policy.updated_at = utcnow()
    session.add(policy)
    record_audit(session=session, actor_id=actor_id, action="limits.set", target=user.username,
                 detail={"before": before, "after": values})
    session.commit()
    return LimitPolicyUpdate.model_validate(values)


def clear_user_limits(*, session: Session, actor_id: int, user_id: int) -> bool:
    """Back to the role defaults; False when the user had no overrides."""
    require_admin(session=session, actor_id=actor_id)
    user = session.get(User, user_id)
    policy = session.exec(select(LimitPolicy).where(LimitPolicy.user_id == user_id)).first()
    if user is None or policy is None:
        return False
    session.delete(policy)
    record_audit(session=session, actor_id=actor_id, action="limits.clear", target=user.username)
    session.commit()
    return True

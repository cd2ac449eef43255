"""Personal API tokens: created with a name and optional expiry, shown once, stored as a keyed hash.

HMAC-SHA256 under the server's token key, not bcrypt: the token is 256 random bits (nothing to brute-force),
and a keyed hash makes every request one indexed lookup. A database dump without the key cannot even test
a guessed token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from core.accounts import charged_team, record_audit, require_admin
from core.config import Settings, get_settings
from core.errors import AuthError, NotFound, PermissionDenied, ValidationError
from core.i18n import Msg
from core.models import TOKEN_PREFIX, ApiToken, ApiTokenPublic, Role, User, UserStatus, utcnow
from core.validation import has_control_chars

NAME_MAX = 60
LAST_USED_PRECISION = timedelta(minutes=1)  # last_used_at is written at most once a minute per token


@dataclass(frozen=True)
class NewToken:
    token: str  # shown once, never stored
    public: ApiTokenPublic


@dataclass(frozen=True)
class Caller:
    """Who an API request is from."""

    user_id: int
    username: str
    role: Role
    token_id: int
    token_name: str
    team_id: int | None = None  # the team this token charges (else the header's, else the user's default)
    expires_at: datetime | None = None  # the token's
    last_used_at: datetime | None = None  # as stored (to the minute)


def token_hash(token: str, settings: Settings | None = None) -> str:
    key = (settings or get_settings()).api_token_key.get_secret_value()
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def _clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > NAME_MAX or has_control_chars(name):
        raise ValidationError(Msg("tokens.name_length", max=NAME_MAX))
    return name


def create_token(*, session: Session, user_id: int, name: str, expires_at: datetime | None = None,
                 settings: Settings | None = None, team_id: int | None = None) -> NewToken:
    """A new token for the user (bound to one of their teams, if given); its value is in the result only, now."""
    settings = settings or get_settings()
    name = _clean_name(name)
    if team_id is not None:
        charged_team(session=session, user_id=user_id, requested=team_id)  # PermissionDenied unless a member
    now = utcnow()
    if expires_at is not None and not now < expires_at <= now + timedelta(days=settings.api.max_token_days):
        raise ValidationError(Msg("tokens.bad_expiry", days=settings.api.max_token_days))
    live = session.exec(select(func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user_id, col(ApiToken.revoked_at).is_(None))).one()
    if live >= settings.api.max_tokens_per_user:
        raise ValidationError(Msg("tokens.too_many", max=settings.api.max_tokens_per_user))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user_id, name=name, last4=token[-4:], token_hash=token_hash(token, settings),
                   expires_at=expires_at, created_at=now, team_id=team_id)
    session.add(row)
    session.flush()
    record_audit(session=session, actor_id=user_id, action="tokens.create", target=name)
    session.commit()
    return NewToken(token, ApiTokenPublic.model_validate(row))


def list_tokens(*, session: Session, user_id: int) -> list[ApiTokenPublic]:
    """The user's own tokens, newest first (revoked ones too, marked)."""
    rows = session.exec(select(ApiToken).where(ApiToken.user_id == user_id)
                        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())).all()
    return [ApiTokenPublic.model_validate(r) for r in rows]


def list_all_tokens(*, session: Session, actor_id: int) -> list[ApiTokenPublic]:
    """Every user's tokens with the owner's name (admins only); never a token's value."""
    require_admin(session=session, actor_id=actor_id)
    rows = session.exec(select(ApiToken, User.username).join(User, col(User.id) == col(ApiToken.user_id))
                        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())).all()
    return [ApiTokenPublic.model_validate(r, update={"owner": name}) for r, name in rows]


def revoke_token(*, session: Session, actor_id: int, token_id: int) -> ApiTokenPublic:
    """Revoke a token: its owner may, and so may an admin (audited as an admin action)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(Msg("tokens.not_found"))
    if row.user_id != actor_id:
        try:
            require_admin(session=session, actor_id=actor_id)
        except PermissionDenied:
            raise NotFound(Msg("tokens.not_found")) from None  # others' tokens do not exist for a user
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        owner = session.get(User, row.user_id)
        action = "tokens.revoke" if row.user_id == actor_id else "tokens.admin_revoke"
        record_audit(session=session, actor_id=actor_id, action=action,
                     target=f"{owner.username if owner else row.user_id}: {row.name}")
        session.commit()
    return ApiTokenPublic.model_validate(row)


def authenticate_token(*, session: Session, token: str, settings: Settings | None = None) -> Caller:
    """The caller behind a bearer token; AuthError when it is unknown, revoked, expired or its user is not active."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError(Msg("tokens.invalid"))
    found = session.exec(select(ApiToken, User).join(User, col(User.id) == col(ApiToken.user_id))
                         .where(ApiToken.token_hash == token_hash(token, settings))).first()
    if found is None:
        raise AuthError(Msg("tokens.invalid"))
    row, user = found
    now = utcnow()
    if row.revoked_at is not None:
        raise AuthError(Msg("tokens.revoked"))
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError(Msg("tokens.expired"))
    if user.status != UserStatus.active:
        raise AuthError(Msg("tokens.user_inactive"))
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        row.last_used_at = now
        session.add(row)
        session.commit()
    return Caller(user.id or 0, user.username, user.role, row.id or 0, row.name, row.team_id, row.expires_at,
                  row.last_used_at)

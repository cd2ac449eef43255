"""Knowledge page (AppTest): a shared knowledge base is read-only for others, and a citation link to a document
the reader may not read shows nothing of it (the page asks core, which checks)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from core.db import get_engine
from core.knowledge import create_knowledge_base, share_knowledge_base
from core.models import KbDocument, Sharing
from tests.conftest import add_user
from tests.ui.test_pages import _app, _as


def _document(owner: int, sharing: Sharing) -> int:
    with Session(get_engine()) as session:
        kb = create_knowledge_base(session=session, user_id=owner, name="Alice handbook")
        if sharing != Sharing.private:
            share_knowledge_base(session=session, actor_id=owner, kb_id=kb.id, sharing=sharing)
        document = KbDocument(kb_id=kb.id, name="secret.md", mime="text/markdown", sha256="0" * 64,
                              status="ready", text="The launch code word is PELICAN-42.")
        session.add(document)
        session.commit()
        assert document.id is not None
        return document.id


def test_a_shared_knowledge_base_is_read_only_for_others(sqlite_app: Path) -> None:
    with Session(get_engine()) as session:
        alice = add_user(session, "alice")
        add_user(session, "bob")
    _document(alice, Sharing.everyone)
    at = _as(_app("pages/knowledge.py"), "bob").run()
    assert not at.exception
    assert "Alice handbook" in at.selectbox[0].options[0]
    assert any("read-only" in c.value for c in at.caption)
    assert not [b for b in at.button if "index" in b.label.lower()]


def test_a_citation_link_to_an_unshared_document_shows_nothing_of_it(sqlite_app: Path) -> None:
    with Session(get_engine()) as session:
        alice = add_user(session, "alice")
        add_user(session, "bob")
    doc_id = _document(alice, Sharing.private)
    at = _as(_app("pages/knowledge.py"), "bob")
    at.query_params["doc"] = str(doc_id)
    at.query_params["start"] = "0"
    at.query_params["end"] = "20"
    at.run()
    assert not at.exception
    shown = " ".join([m.value for m in at.markdown] + [s.value for s in at.success] + [e.value for e in at.error])
    assert "PELICAN" not in shown and "no longer shared" in shown
    at = _as(_app("pages/knowledge.py"), "alice")
    at.query_params["doc"] = str(doc_id)
    at.query_params["start"] = "0"
    at.query_params["end"] = "35"
    at.run()
    assert any("PELICAN" in s.value for s in at.success)  # the cited passage, highlighted

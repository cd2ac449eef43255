"""Knowledge page and citation links (AppTest), hardening round 2 (issue 21):
row 5: a shared knowledge base's metadata (name, description, document names, indexing progress) is shown to its
readers as literal text, never as Markdown that loads an image;
row 15: a mangled link (`?doc=`, `?start=`, `?end=` on the Knowledge page, `?c=` on Chat, anything on History)
shows a clear message or nothing, never an exception."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from sqlmodel import Session

from core.db import get_engine
from core.knowledge import create_knowledge_base, share_knowledge_base
from core.models import KbDocument, Sharing
from tests.conftest import add_user
from tests.ui.test_pages import _app, _as

HOSTILE = "![x](http://evil.test/p.png)"
_RENDER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _literal(markdown: str, text: str) -> bool:
    """True when markdown shows text as it is: no image, no link, the characters visible."""
    shown = _RENDER.render(markdown)
    return "<img" not in shown and "<a " not in shown and html.escape(text, quote=False) in shown


def _shared_kb(owner: int, *, status: str = "ready") -> int:
    """A knowledge base shared with everyone, with hostile metadata; returns its document's id."""
    with Session(get_engine()) as session:
        kb = create_knowledge_base(session=session, user_id=owner, name=f"Team {HOSTILE}",
                                   description=f"About {HOSTILE}")
        share_knowledge_base(session=session, actor_id=owner, kb_id=kb.id, sharing=Sharing.everyone)
        document = KbDocument(kb_id=kb.id, name=f"{HOSTILE}.md", mime="text/markdown", sha256="0" * 64,
                              status=status, progress=0.4, text="The launch code word is PELICAN-42.")
        session.add(document)
        session.commit()
        assert document.id is not None
        return document.id


def _users() -> tuple[int, int]:
    with Session(get_engine()) as session:
        return add_user(session, "alice"), add_user(session, "bob")


def test_r2_row05_shared_metadata_is_literal_text_for_readers(sqlite_app: Path) -> None:
    alice, _ = _users()
    doc_id = _shared_kb(alice, status="indexing")
    at = _as(_app("pages/knowledge.py"), "bob")
    at.query_params["doc"] = str(doc_id)
    at.query_params["end"] = "10"
    at.run()
    assert not at.exception
    description = [c.value for c in at.caption if "About" in c.value]
    assert description and all(_literal(v, f"About {HOSTILE}") for v in description)
    heading = [h.value for h in at.subheader if ".md" in h.value]  # the citation viewer's heading
    assert heading and all(_literal(v, f"{HOSTILE}.md") for v in heading)
    progress = [p.proto.text for p in at.get("progress")]  # indexing progress, shown to every reader
    assert progress and all(_literal(v, f"{HOSTILE}.md") for v in progress)


@pytest.mark.parametrize("doc", ["99999999999999999999999", "2147483648", "-1", "abc", "²", "１２", "1e3", " 7"])
def test_r2_row15_knowledge_page_refuses_a_mangled_document_link_clearly(sqlite_app: Path, doc: str) -> None:
    alice, _ = _users()
    _shared_kb(alice)
    at = _as(_app("pages/knowledge.py"), "bob")
    at.query_params["doc"] = doc
    at.query_params["start"] = "0"
    at.run()
    assert not at.exception
    assert any("no longer shared" in e.value for e in at.error)  # the same answer as for a deleted document
    assert not any("PELICAN" in s.value for s in at.success)


@pytest.mark.parametrize(("start", "end"), [("abc", "10"), ("99999999999999999999", "abc"), ("-5", "²"),
                                            ("", "99999999999999999999999"), ("3", "1")])
def test_r2_row15_knowledge_page_ignores_mangled_offsets(sqlite_app: Path, start: str, end: str) -> None:
    alice, _ = _users()
    doc_id = _shared_kb(alice)
    at = _as(_app("pages/knowledge.py"), "bob")
    at.query_params["doc"] = str(doc_id)
    at.query_params["start"] = start
    at.query_params["end"] = end
    at.run()
    assert not at.exception
    assert not at.error
    assert any(".md" in h.value for h in at.subheader)  # the document opens; a bad offset highlights nothing


@pytest.mark.parametrize("conv", ["99999999999999999999999", "2147483648", "²", "-3", "abc"])
def test_r2_row15_chat_ignores_a_mangled_conversation_link(sqlite_app: Path, conv: str) -> None:
    _users()
    at = _as(_app("pages/chat.py"), "bob")
    at.query_params["c"] = conv
    at.run()
    assert not at.exception
    assert not at.error


def test_r2_row15_history_ignores_query_parameters(sqlite_app: Path) -> None:
    _users()
    at = _as(_app("pages/history.py"), "bob")
    for name in ("c", "doc", "start", "page", "q"):
        at.query_params[name] = "99999999999999999999999"
    at.run()
    assert not at.exception


def _refused_draft() -> None:
    """A message refused because of a shared knowledge base, whose reason names it (AppTest script)."""
    import streamlit as st

    from core.i18n import Msg
    from core.ui import state
    from core.ui.chat import composer

    st.session_state[state.DRAFT] = "When are backups written?"
    st.session_state[state.DRAFT_ERROR] = Msg("knowledge.still_indexing", names="![x](http://evil.test/p.png).md")
    composer.draft_form()


def test_r2_row05_a_reason_naming_a_shared_document_is_literal_in_chat(sqlite_app: Path) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_refused_draft).run()
    assert not at.exception
    assert at.error and _literal(at.error[0].value, f"{HOSTILE}.md")

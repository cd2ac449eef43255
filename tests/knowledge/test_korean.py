"""Korean in knowledge bases (issue #25, causes 4 and 5): a question's two-syllable words are searched even when it
also has longer words (its endings), and a sentence ends at 다 or 요 only where they close a verb or adjective."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.config import get_settings
from core.knowledge import Knowledge
from core.knowledge.chunking import _SENTENCE, chunk
from core.knowledge.keyword import terms
from core.knowledge.parsing import Section
from tests.knowledge.test_knowledge import _kb, _upload, alice  # noqa: F401  (fixture)

ONBOARDING = """# 입사 안내
입사 첫날에는 오전 9시에 1층 안내 데스크로 와서 출입증을 받습니다.
# 장비
노트북은 첫 주 안에 지급됩니다.
"""
DISTRACTOR = """# 회의실
회의실 예약은 하나의 팀이 하루 두 번까지 할 수 있습니다. 무엇을 하든 예약 후 사용합니다.
# 주차
주차 공간은 하나도 배정되지 않습니다.
"""


@pytest.fixture
def kn(engine) -> Knowledge:  # type: ignore[no-untyped-def]
    return Knowledge(engine=engine, settings=get_settings())  # the embedded vector store


def test_two_syllable_words_are_searched_alongside_the_longer_ones(engine, kn, session, alice) -> None:  # noqa: F811
    long_terms, short_terms = terms("입사 첫날에는 무엇을 하나요?")
    assert {"입사", "첫날"} <= set(short_terms) and "하나" not in short_terms and "무엇" not in short_terms
    assert terms("How many pc days?")[1] == ["pc"]  # Latin short words: kept for when nothing else matches
    kb_id = _kb(session, alice, "온보딩")
    _upload(kn, alice, kb_id, "onboarding.md", ONBOARDING.encode())
    _upload(kn, alice, kb_id, "facilities.md", DISTRACTOR.encode())
    hits = kn.search(user_id=alice, kb_ids=[kb_id], query="입사 첫날에는 무엇을 하나요?", k=3, mode="keyword").hits
    assert hits and hits[0].document_name == "onboarding.md" and "입사 첫날" in hits[0].text


@pytest.mark.parametrize(("text", "sentences"), [
    ("서울은 바다 위에서 보면 아름답다 부산은 크다", ["서울은 바다 위에서 보면 아름답다", "부산은 크다"]),
    ("신청은 금요일까지 해야 합니다 승인은 팀장이 한다", ["신청은 금요일까지 해야 합니다", "승인은 팀장이 한다"]),
    ("필요 서류는 여권입니다 그리고 사진이 필요해요", ["필요 서류는 여권입니다", "그리고 사진이 필요해요"]),
    ("A보다 B가 크다 그러나 C가 더 크다", ["A보다 B가 크다", "그러나 C가 더 크다"]),
    ("회의는 언제인가요 내일이에요 좋아요", ["회의는 언제인가요", "내일이에요", "좋아요"]),
    ("It ends. Next one! And?", ["It ends.", "Next one!", "And?"]),
])
def test_a_sentence_ends_where_a_clause_does(text: str, sentences: list[str]) -> None:
    assert [part for part in _SENTENCE.split(text) if part] == sentences


def test_chunks_are_cut_between_sentences_not_inside_a_clause() -> None:
    body = " ".join(["바다 위에서 보는 일출은 아름답다"] * 6)
    _, drafts = chunk([Section(body)], size=60, overlap=0)
    assert all(d.text.endswith("아름답다") for d in drafts[:-1])  # never "...바다" / "위에서 ..."


def test_a_chunks_title_and_section_count_as_its_words(engine, kn, session, alice) -> None:  # noqa: F811
    """Issue #25, context in every chunk: two policies alike word for word, told apart only by their titles' year
    and their sections; the question's words found there count beside the text's (keywords and hybrid)."""
    from core.knowledge.keyword import heading_matches
    from core.knowledge.retrieval import with_headings

    kb_id = _kb(session, alice, "Travel")
    for year in (2025, 2026):
        _upload(kn, alice, kb_id, f"travel-{year}.md", b"# Meals\nA daily allowance covers meals.\n"
                                                       b"# Lodging\nHotels are paid up to a limit per night.\n")
    for mode in ("keyword", "hybrid"):
        hits = kn.search(user_id=alice, kb_ids=[kb_id], query="2026 daily allowance for meals", k=4, mode=mode).hits
        assert (hits[0].document_name, hits[0].section) == ("travel-2026.md", "Meals"), mode
    every = {h.chunk_id: (h.document_name, h.section)
             for h in kn.search(user_id=alice, kb_ids=[kb_id], query="hotel", k=4).hits}
    with Session(engine) as s:
        found = heading_matches(s, list(every), "2026 lodging")
    assert {every[c]: score for c, score in found.items()} == {  # each term scores its length, as in the text
        ("travel-2026.md", "Lodging"): 11.0, ("travel-2025.md", "Lodging"): 7.0, ("travel-2026.md", "Meals"): 4.0}
    assert with_headings([(1, 4.0), (2, 2.0)], [(2, 8.0)]) == [(1, 1.0), (2, 1.0)]  # text 0.5 + title 0.5 x 1

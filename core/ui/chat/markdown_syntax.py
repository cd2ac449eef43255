"""markdown-it-py (a CommonMark parser) set up to read Markdown as Streamlit's browser does, noting every image.

The browser renders `st.markdown` with remark (micromark): CommonMark, GitHub's tables, footnotes and literal links,
math and directives (core.ui.chat.markdown_extensions and markdown_autolinks). Where markdown-it itself departs from
CommonMark in a way that hides an image the browser shows, its rule is corrected here. For images every reference
label that could be defined counts as defined: `![x][ref]` is an image whatever the definitions say.
"""

from __future__ import annotations

import re
from functools import cache
from types import SimpleNamespace
from typing import Any

from markdown_it import MarkdownIt, helpers
from markdown_it.common.utils import normalizeReference
from markdown_it.ruler import RuleOptionsType
from markdown_it.rules_block.fence import make_fence_rule
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.html_inline import html_inline as _html_inline
from markdown_it.rules_inline.image import image as _image
from markdown_it.rules_inline.link import link as _link

from core.ui.chat.markdown_autolinks import literal_autolink
from core.ui.chat.markdown_extensions import (
    directive_line,
    directive_text,
    footnote_definition,
    math_enabled,
    math_inline,
)

__all__ = ["math_enabled", "new_env", "parser"]


def _label(key: str) -> bool:
    """True for a text a reference definition could have as its label (no unescaped bracket, 999 characters)."""
    return bool(key.strip()) and len(key) <= 999 and not re.search(r"(?<!\\)(?:\\\\)*[\[\]]", key)


class _AnyReference:
    """The text's reference definitions, where for images every label that could be defined is (`![x][ref]` counts
    whatever the definitions say)."""

    def __init__(self, defined: dict[str, Any]) -> None:
        self.defined = defined

    def get(self, key: str, default: Any = None) -> Any:
        return self.defined.get(key) or ({"href": "", "title": ""} if _label(key) else default)


def new_env() -> dict[str, Any]:
    """A parse environment; image starts are collected in "_found"."""
    defined: dict[str, Any] = {}
    return {"references": defined, "_any": _AnyReference(defined), "_found": [], "_base": [0], "_labels": {}}


def _link_label(state: StateInline, start: int, disable_nested: bool = False) -> int:
    """markdown-it's parseLinkLabel, remembered: the rules here ask for the same label more than once."""
    key = (state.src, start, disable_nested, state.posMax)
    labels: dict[tuple[str, int, bool, int], int] = state.env["_labels"]
    if key not in labels:
        labels[key] = helpers.parseLinkLabel(state, start, disable_nested)
    return labels[key]


def _shortcut_image(state: StateInline, silent: bool) -> bool:
    """`![x](not a destination)`: CommonMark (and the browser) fall back to the reference `![x]`; markdown-it not."""
    src, start = state.src, state.pos
    if src[start:start + 2] != "![":
        return False
    label_end = state.md.helpers.parseLinkLabel(state, start + 1, False)
    if label_end < 0 or src[label_end + 1:label_end + 2] != "(" or not _label(src[start + 2:label_end]):
        return False
    if not silent:
        token = state.push("image", "img", 0)
        token.children = []
        state.md.inline.parse(src[start + 2:label_end], state.md, state.env, token.children)
    state.pos = label_end + 1
    return True


def _recording_image(state: StateInline, silent: bool) -> bool:
    """markdown-it's image rule, noting where each image starts (offsets into the inline token's content)."""
    env = state.env
    defined, env["references"] = env["references"], env["_any"]
    bases: list[int] = env["_base"]
    start = bases[-1] + state.pos
    bases.append(start + 2)  # its description is parsed as a text of its own, from after "!["
    try:
        found = _image(state, silent) or _shortcut_image(state, silent)
    finally:
        bases.pop()
        env["references"] = defined
    if found and not silent:
        env["_found"].append(start)
    return found


def _commonmark_link(state: StateInline, silent: bool) -> bool:
    """markdown-it's link rule, except that `[a](not a destination ![b]` is not a link labelled b (CommonMark)."""
    src, start = state.src, state.pos
    if src[start] != "[":
        return False
    label_end = state.md.helpers.parseLinkLabel(state, start, True)
    if label_end < 0 or src[label_end + 1:label_end + 2] != "(":
        return label_end >= 0 and _link(state, silent)
    if not _link(state, True):
        state.pos = start
        return False
    end, state.pos = state.pos, start
    if end <= label_end + 1 or src[end - 1] != "]":
        return _link(state, silent)
    if state.env["references"].get(normalizeReference(src[start + 1:label_end])) is None:
        return False  # not `[a]` either: the "[" is text
    if not silent:
        state.push("link_open", "a", 1)
        state.pos, state.posMax, limit = start + 1, label_end, state.posMax
        state.linkLevel += 1
        state.md.inline.tokenize(state)
        state.linkLevel -= 1
        state.posMax = limit
        state.push("link_close", "a", -1)
    state.pos = label_end + 1
    return True


def _html_comment(state: StateInline, silent: bool) -> bool:
    """markdown-it's inline HTML, except that a comment ends at the first `-->` (CommonMark 0.31, the browser);
    markdown-it's pattern runs past `--->` and hides what follows."""
    src, pos = state.src, state.pos
    if not src.startswith("<!--", pos):
        return _html_inline(state, silent)
    if src.startswith("<!-->", pos) or src.startswith("<!--->", pos):
        close = src.index(">", pos) + 1
    elif (found := src.find("-->", pos + 4, state.posMax)) >= 0:
        close = found + 3
    else:
        return False
    if not silent:
        state.push("html_inline", "", 0).content = src[pos:close]
    state.pos = close
    return True


@cache
def parser(*, extensions: bool, math: bool = False, tables: bool = True, raw_blocks: bool = True) -> MarkdownIt:
    """markdown-it configured to find images as the browser does (block tokens only: inline parsing is the caller's).

    extensions: with Streamlit's (footnotes, literal links, directives); math: `$…$` and `$$` blocks too (see
    math_enabled); tables=False: no GitHub table; raw_blocks=False: indented code and HTML read as text (where parsers
    disagree on containers, laziness or HTML's edges, those hide a line from one and not the other)."""
    md = MarkdownIt("commonmark", {"maxNesting": 50}).enable(["strikethrough", "table"][: 2 if tables else 1])
    if not raw_blocks:
        md.block.ruler.disable(["code", "html_block"])
        md.inline.ruler.disable(["html_inline"])
    md.validateLink = lambda url: True  # type: ignore[method-assign]  # the browser shows any address
    md.helpers = SimpleNamespace(parseLinkLabel=_link_label, parseLinkDestination=helpers.parseLinkDestination,
                                 parseLinkTitle=helpers.parseLinkTitle)  # type: ignore[assignment]
    md.inline.ruler.at("image", _recording_image)
    md.inline.ruler.at("link", _commonmark_link)
    md.inline.ruler.at("html_inline", _html_comment)
    md.core.ruler.disable("inline")
    interrupts: RuleOptionsType = {"alt": ["paragraph", "reference", "blockquote", "list"]}
    if extensions:
        md.block.ruler.before("reference", "footnote_definition", footnote_definition,
                              {"alt": ["paragraph", "reference"]})
        md.block.ruler.before("fence", "directive_line", directive_line, interrupts)
        md.inline.ruler.before("backticks", "directive_text", directive_text)
        md.inline.ruler.before("backticks", "literal_autolink", literal_autolink)
        for char in ":.":
            md.inline.add_terminator_char(char)
    if extensions and math:
        md.block.ruler.before("fence", "math_block", make_fence_rule(
            markers=("$",), token_type="math_block", disallow_marker_in_info=("$",), min_markers=2), interrupts)
        md.inline.ruler.before("backticks", "math_inline", math_inline)
        md.inline.add_terminator_char("$")
    return md

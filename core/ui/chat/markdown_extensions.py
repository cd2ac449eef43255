"""Streamlit's Markdown extensions as markdown-it-py rules: GitHub footnotes, math, directives (and, in
core.ui.chat.markdown_autolinks, GitHub's literal links).

Each can swallow a backtick, a `<` or a bracket that CommonMark alone would read as the start of a code span, a tag or
a link, so an image CommonMark keeps inside code may be live in the browser. The rules follow micromark (what the
browser runs) where that decides what is swallowed, and lean towards swallowing where it does not matter.
"""

from __future__ import annotations

import re

from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline

_SPACE = " \t\n"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")  # a directive's name; it may not end with "-" or "_"
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z:_][A-Za-z0-9.:_-]*")


def _run(src: str, at: int, char: str) -> int:
    end = at
    while end < len(src) and src[end] == char:
        end += 1
    return end


# Streamlit turns math on for a text only when this test of its own finds some (code and escapes set aside).
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_NOT_MATH = re.compile(r"(?:\A|(?<=\n)) {0,3}(`{3,}|~{3,})[\s\S]*?(?:\n[ \t]*\1|\Z)|(?<!`)(`+)[^`\n]+\2(?!`)|\\[\\$`]")
_DISPLAY_MATH = re.compile(r"(?<!\$)\$\$+(?!\$)[\s\S]*?\$\$")
_INLINE_MATH = re.compile(rf"(?<!\$)\$(?![{_JS_SPACE}$])[^$\n]*?[^{_JS_SPACE}$]\$(?!\d)")


def math_enabled(text: str) -> bool:
    """True when Streamlit's renderer reads `$` as math in this text (its `containsMathSyntax`)."""
    if "$" not in text:
        return False
    rest = _NOT_MATH.sub("_", text)
    return bool(_DISPLAY_MATH.search(rest) or _INLINE_MATH.search(rest))


def math_inline(state: StateInline, silent: bool) -> bool:
    """`$…$`, `$$…$$`: what is between is not Markdown."""
    src, pos, end = state.src, state.pos, state.posMax
    if src[pos] != "$" or (pos > 0 and src[pos - 1] == "$"):
        return False
    opened = _run(src, pos, "$")
    width, at = opened - pos, opened
    while (at := src.find("$", at, end)) >= 0:
        closed = min(_run(src, at, "$"), end)
        if closed - at == width:
            break
        at = closed
    else:
        return False
    if not silent:
        state.push("math_inline", "math", 0).content = src[opened:at]
    state.pos = closed
    return True


def _label_end(src: str, pos: int, end: int) -> int:
    """Where a directive label `[...]` at pos closes (brackets balanced, backslash escapes); -1 if it does not."""
    depth, at = 0, pos + 1
    while at < end and at - pos <= 1000:
        char = src[at]
        if char == "\\" and at + 1 < end and src[at + 1] in "[]\\":
            at += 2
            continue
        if char == "[":
            depth += 1
            if depth > 32:
                return -1
        elif char == "]":
            if depth == 0:
                return at
            depth -= 1
        at += 1
    return -1


def _value_end(src: str, at: int, end: int) -> int:
    """The end of an attribute value starting at `at` (quoted or not); -1 when it is not one."""
    if at >= end or src[at] in "<=>`}":
        return -1
    if src[at] in "\"'":
        closed = src.find(src[at], at + 1, end)
        return -1 if closed < 0 or (closed + 1 < end and src[closed + 1] not in "}" + _SPACE) else closed + 1
    while at < end and src[at] not in "}" + _SPACE:
        if src[at] in "\"'<=>`":
            return -1
        at += 1
    return at


def _attributes_end(src: str, pos: int, end: int) -> int:
    """Where directive attributes `{...}` at pos close (micromark's grammar); -1 when they are not attributes."""
    at = pos + 1
    while at < end:
        char = src[at]
        if char in _SPACE:
            at += 1
        elif char == "}":
            return at
        elif char in "#.":
            start = at = at + 1
            while at < end and src[at] not in "#.}" + _SPACE:
                if src[at] in "\"'<=>`":
                    return -1
                at += 1
            if at == start:
                return -1
        elif name := _ATTRIBUTE_NAME.match(src, at, end):
            at = name.end()
            after = at
            while after < end and src[after] in _SPACE:
                after += 1
            if after < end and src[after] == "=":
                value = after + 1
                while value < end and src[value] in _SPACE:
                    value += 1
                at = _value_end(src, value, end)
                if at < 0:
                    return -1
        else:
            return -1
    return -1


def _directive(src: str, pos: int, end: int) -> tuple[int, tuple[int, int] | None] | None:
    """A directive's name, label and attributes from pos: (where it ends, its label's span), or None."""
    name = _NAME.match(src, pos, end)
    if name is None or src[name.end() - 1] in "-_" or src[name.end():name.end() + 1] == ":":
        return None
    at, label = name.end(), None
    if at < end and src[at] == "[" and (closed := _label_end(src, at, end)) >= 0:
        label, at = (at + 1, closed), closed + 1
    if at < end and src[at] == "{" and (closed := _attributes_end(src, at, end)) >= 0:
        at = closed + 1
    return at, label


def directive_text(state: StateInline, silent: bool) -> bool:
    """`:name[label]{attributes}`: the attributes are not Markdown; the label is (an image there counts)."""
    src, pos, end = state.src, state.pos, state.posMax
    if src[pos] != ":" or (pos > 0 and src[pos - 1] == ":"):
        return False
    found = _directive(src, pos + 1, end)
    if found is None:
        return False
    stop, label = found
    if not silent:
        state.push("directive_open", "span", 1)
        if label is not None:  # the label is Markdown: its images are images
            state.pos, state.posMax = label
            state.md.inline.tokenize(state)
            state.posMax = end
        state.push("directive_close", "span", -1)
    state.pos = stop
    return True


def footnote_definition(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """`[^label]: …`: its content is Markdown, continued by lines indented four columns (GitHub footnotes)."""
    if state.is_code_block(start):
        return False
    src, pos, maximum = state.src, state.bMarks[start] + state.tShift[start], state.eMarks[start]
    closed = src.find("]", pos + 2, maximum)
    if not src.startswith("[^", pos) or closed <= pos + 2 or closed + 1 >= maximum or src[closed + 1] != ":":
        return False
    if silent:
        return True
    saved = (state.bMarks[start], state.tShift[start], state.sCount[start], state.blkIndent)
    body = content = closed + 2
    column = first = state.sCount[start] + content - pos
    while body < maximum and src[body] in " \t":
        column += 4 - column % 4 if src[body] == "\t" else 1
        body += 1
    state.bMarks[start], state.tShift[start] = content, body - content
    state.blkIndent += 4
    state.sCount[start] = column - first + (state.blkIndent if column - first < state.blkIndent else 0)
    opening = state.push("footnote_open", "div", 1)
    state.md.block.tokenize(state, start, end)
    state.line = max(state.line, start + 1)
    opening.map = [start, state.line]
    state.push("footnote_close", "div", -1)
    state.bMarks[start], state.tShift[start], state.sCount[start], state.blkIndent = saved
    return True


def directive_line(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """`::name[label]{attributes}` and a container's `:::name…` / `:::` lines: the whole line is the directive."""
    if state.is_code_block(start):
        return False
    src, pos, maximum = state.src, state.bMarks[start] + state.tShift[start], state.eMarks[start]
    colons = _run(src, pos, ":")
    if colons - pos < 2:
        return False
    label = None
    if colons - pos == 2 or src[colons:maximum].strip(" \t"):
        found = _directive(src, colons, maximum)
        if found is None or src[found[0]:maximum].strip(" \t"):
            return False
        label = found[1]
    if silent:
        return True
    state.push("directive_line", "div", 0).map = [start, start + 1]
    if label is not None:
        inline = state.push("inline", "", 0)
        inline.content, inline.map, inline.children, inline.meta = src[label[0]:label[1]], [start, start + 1], [], {
            "align": "start"}
    state.line = start + 1
    return True

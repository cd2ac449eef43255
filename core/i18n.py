"""UI languages: one message catalog per language (core/locales/<code>.toml) and Msg, a translatable message.

Core code raises and returns Msg objects: they are plain English strings for logs, tests and the API,
and the UI renders them in the reader's language with localize(). Catalogs are flat after loading:
the TOML table [chat] with `title = "Chat"` becomes the key "chat.title". Placeholders use str.format.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = {"en": "English", "ko": "한국어"}
DEFAULT_LANGUAGE = "en"
THEMES = ("system", "light", "dark")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """Every message of one language, by key."""
    if language not in LANGUAGES:
        raise KeyError(f"unknown language {language!r}")
    with (LOCALES_DIR / f"{language}.toml").open("rb") as fh:
        return _flatten(tomllib.load(fh))


def normalize_language(code: str | None) -> str:
    """A supported language for a stored value or a browser locale ("ko-KR" -> "ko"), else English."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def translate(language: str, key: str, **params: Any) -> str:
    """The message `key` in `language` (English if that catalog lacks it), with params filled in.

    Params that are Msg objects are rendered in the same language.
    """
    text = catalog(normalize_language(language)).get(key) or catalog(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no message {key!r} in the catalog")
    if not params:
        return text
    return text.format(**{k: _param(v, language) for k, v in params.items()})


def _param(value: Any, language: str) -> Any:
    """Msg params render in the same language; a list of them becomes "a · b · c"."""
    if isinstance(value, Msg):
        return value.render(language)
    if isinstance(value, list | tuple):
        return " · ".join(str(_param(v, language)) for v in value)
    return value


class Msg(str):
    """A message from the catalog. As a str it is the English text; render(lang) gives any language."""

    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, /, **params: Any) -> Msg:
        obj = super().__new__(cls, translate(DEFAULT_LANGUAGE, key, **params))
        obj.key, obj.params = key, params
        return obj

    def render(self, language: str) -> str:
        return translate(language, self.key, **self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self.key, self.params)


def _rebuild(key: str, params: dict[str, Any]) -> Msg:
    return Msg(key, **params)


@cache
def _english_index() -> dict[str, str]:
    """English text -> key, for messages without placeholders (stored texts such as a reply's error)."""
    return {text: key for key, text in catalog(DEFAULT_LANGUAGE).items() if "{" not in text}


def localize(text: str | None, language: str) -> str:
    """Any text meant for the reader in their language: a Msg is rendered, a known English text is
    translated (an error stored with a reply), anything else (user data, model output) is left alone."""
    if text is None:
        return ""
    if isinstance(text, Msg):
        return text.render(language)
    key = _english_index().get(text)
    return translate(language, key) if key else text

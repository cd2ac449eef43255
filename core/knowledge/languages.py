"""A text's language, offline and without a model: by script (Hangul, kana, Han, Cyrillic, ...), and for Latin
script by its commonest short words (English, German, French, Spanish). Enough to tell when a question and a
knowledge base's documents are in different languages (issue #25: query translation); "" when unsure (too few
letters, or a Latin text with none of those words), which never asks for a translation.
"""

from __future__ import annotations

import re

SAMPLE = 4000  # characters read: the start of a document says its language
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_COMMON = {  # a language's commonest function words, none shared by two of these lists
    "en": ("the of and to is are in that for with on be this by as was it not from at or have which can i you my do "
           "does how what when where who why will your we"),
    "de": "der die und das ist nicht ein eine mit den dem zu von sich auf für werden wird auch",
    "fr": "le la les et est des une dans pour que qui pas sur au aux du sont ce avec",
    "es": "el los las y es del una por para con se su al como más lo",
}
COMMON = {language: frozenset(words.split()) for language, words in _COMMON.items()}
NAMES = {"ko": "Korean", "en": "English", "ja": "Japanese", "zh": "Chinese", "ru": "Russian", "ar": "Arabic",
         "de": "German", "fr": "French", "es": "Spanish"}


def detect(text: str) -> str:
    """The language of text ("ko", "en", ...), or "" when there is too little to tell."""
    sample = text[:SAMPLE]
    letters = _LETTER.findall(sample)
    if len(letters) < 4:
        return ""
    share = {script: len(script.findall(sample)) / len(letters) for script in (_HANGUL, _KANA, _HAN, _CYRILLIC,
                                                                              _ARABIC)}
    if share[_HANGUL] > 0.3:
        return "ko"
    if share[_KANA] and share[_KANA] + share[_HAN] > 0.3:  # Japanese writes Han characters among its kana
        return "ja"
    for language, script in (("zh", _HAN), ("ru", _CYRILLIC), ("ar", _ARABIC)):
        if share[script] > 0.3:
            return language
    if sum(1 for c in letters if _LATIN.match(c)) / len(letters) < 0.5:
        return ""
    words = [w.lower() for w in _WORD.findall(sample)]
    counts = {language: sum(1 for w in words if w in common) for language, common in COMMON.items()}
    best = max(counts, key=lambda language: counts[language])
    if counts[best] == 0:
        return "en" if len(words) <= 12 else ""  # a short Latin question with no function word: most likely English
    return best


def name(language: str) -> str:
    """The language's English name, for a prompt ("Korean"); the code itself when unknown."""
    return NAMES.get(language, language)

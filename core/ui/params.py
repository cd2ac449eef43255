"""Numbers read from the page's address (`?doc=`, `?start=`, `?c=`): a link can be truncated, hand-edited or
hostile, so anything but a plain number in range is no number (never an exception, never a database error)."""

from __future__ import annotations

import re

import streamlit as st

# Row ids are INTEGER columns: above PostgreSQL's bound a number names no row anywhere, and SQLite would overflow.
ID_MAX = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII digits only: int() also takes "²"-like digits, signs and spaces


def query_int(name: str, *, maximum: int) -> int | None:
    """The query parameter as a whole number from 0 to maximum; None when it is absent or anything else."""
    raw = st.query_params.get(name, "")
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if value <= maximum else None


def query_id(name: str) -> int | None:
    """The query parameter as a row id (1 or more, within the database's range); None otherwise."""
    value = query_int(name, maximum=ID_MAX)
    return value if value else None

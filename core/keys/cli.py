"""`python -m core.keys rotate | generate-key` (also `make rotate-keys`, `make generate-key`)."""

from __future__ import annotations

import sys

from core.config import get_settings
from core.db import ensure_migrated, session_scope
from core.keys.store import rotate_all
from core.keys.vault import KeyVault, generate_key
from core.logging import configure_logging

USAGE = "usage: python -m core.keys rotate | generate-key"


def rotate() -> int:
    """Re-encrypt every stored key under the newest master key; 1 when some key could not be read."""
    configure_logging(get_settings().log_level)
    ensure_migrated()
    with session_scope() as session:
        report = rotate_all(session=session, vault=KeyVault.from_settings())
    print(f"rotated {report.rotated}, already current {report.current}, unreadable {report.failed}")
    return 1 if report.failed else 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "generate-key":
        print(generate_key())
        return 0
    if command == "rotate":
        return rotate()
    print(USAGE, file=sys.stderr)
    return 2

"""The key command line as `make rotate-keys` and `make generate-key` run it: python -m core.keys ..."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from cryptography.fernet import Fernet
from sqlmodel import Session, select

from core.config import PROJECT_ROOT
from core.keys import KeyVault, generate_key, save_user_key
from core.keys.vault import key_version
from core.models import ProviderCredential
from tests.conftest import add_user

SECRET = "sk-proj-ROTATEDsecret0123456789abcd"


def _keys_cli(*args: str, fernet_keys: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if fernet_keys is not None:
        env["PARLEY_FERNET_KEYS"] = fernet_keys
    return subprocess.run([sys.executable, "-m", "core.keys", *args], cwd=PROJECT_ROOT, env=env, text=True,
                          capture_output=True, timeout=120)


def test_makefile_targets_run_this_command_line() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"^rotate-keys:.*\n\t\$\(BIN\)/python -m core\.keys rotate$", makefile, re.M)
    assert re.search(r"^generate-key:.*\n\t@\$\(BIN\)/python -m core\.keys generate-key$", makefile, re.M)


def test_generate_key_prints_a_new_fernet_key() -> None:
    first, second = _keys_cli("generate-key"), _keys_cli("generate-key")
    assert first.returncode == 0 and second.returncode == 0
    key = first.stdout.strip()
    Fernet(key.encode())  # a valid master key
    assert key != second.stdout.strip() and first.stderr == ""


def test_unknown_command_prints_usage_and_fails() -> None:
    result = _keys_cli("rotate-everything")
    assert result.returncode == 2 and "usage: python -m core.keys rotate | generate-key" in result.stderr


def test_rotate_reencrypts_under_the_newest_key_and_is_safe_to_rerun(engine, session: Session) -> None:
    old, new = generate_key(), generate_key()
    save_user_key(session=session, user_id=add_user(session, "alice"), provider="openai", api_key=SECRET,
                  vault=KeyVault([old]))

    first = _keys_cli("rotate", fernet_keys=f"{new},{old}")
    assert first.returncode == 0, first.stderr
    assert "rotated 1, already current 0, unreadable 0" in first.stdout
    session.expire_all()
    cred = session.exec(select(ProviderCredential)).one()
    assert cred.key_version == key_version(new)
    assert KeyVault([new]).decrypt(cred.ciphertext) == SECRET  # the old master key can go now
    assert SECRET not in first.stdout + first.stderr

    again = _keys_cli("rotate", fernet_keys=new)
    assert again.returncode == 0 and "rotated 0, already current 1, unreadable 0" in again.stdout


def test_rotate_reports_keys_it_cannot_read_and_fails(engine, session: Session) -> None:
    save_user_key(session=session, user_id=add_user(session, "bob"), provider="anthropic",
                  api_key="sk-ant-UNREADABLE9876wxyz", vault=KeyVault([generate_key()]))
    result = _keys_cli("rotate", fernet_keys=generate_key())  # a master key that never encrypted it
    assert result.returncode == 1 and "unreadable 1" in result.stdout

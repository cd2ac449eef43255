"""Which pages each role may see. Pages left out of st.navigation cannot be opened by a user."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.config import PROJECT_ROOT
from core.models import Role, UserPublic
from core.ui.i18n import t


@dataclass(frozen=True)
class PageSpec:
    path: str
    title_key: str
    icon: str
    admin_only: bool = False


# Order is the sidebar order; the first visible page is the default one.
PAGES = [
    PageSpec("pages/chat.py", "nav.chat", ":material/chat:"),
    PageSpec("pages/history.py", "nav.history", ":material/history:"),
    PageSpec("pages/knowledge.py", "nav.knowledge", ":material/library_books:"),
    PageSpec("pages/settings.py", "nav.settings", ":material/settings:"),
    PageSpec("pages/monitoring.py", "nav.monitoring", ":material/monitoring:", admin_only=True),
    PageSpec("pages/admin.py", "nav.admin", ":material/admin_panel_settings:", admin_only=True),
]


def visible_pages(user: UserPublic) -> list[PageSpec]:
    """The pages this user's role may open."""
    return [p for p in PAGES if not p.admin_only or user.role == Role.admin]


def page_paths(user: UserPublic) -> list[str]:
    """The URL paths of the user's pages (Streamlit derives them from the file names)."""
    return [Path(spec.path).stem for spec in visible_pages(user)]


def navigation_for(user: UserPublic) -> st.navigation:  # type: ignore[valid-type]
    pages = [
        st.Page(str(PROJECT_ROOT / spec.path), title=t(spec.title_key), icon=spec.icon, default=i == 0)
        for i, spec in enumerate(visible_pages(user))
    ]
    return st.navigation(pages, position="sidebar")

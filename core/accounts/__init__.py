"""Accounts: who may log in and as what. Users, login and sessions, throttling, guards, audit, preferences.

Other packages call the names below; the modules behind them are this package's own business.
"""

from core.accounts.admin import create_user, list_users, reset_password, set_role, set_status
from core.accounts.audit import audit_log, record_audit
from core.accounts.auth import (
    LoginResult,
    authenticate,
    build_credentials,
    cookie_issued_at,
    cookie_token,
    hash_password,
    revoke_sessions,
    validate_session,
    verify_password,
)
from core.accounts.bootstrap import FirstAdmin, bootstrap_admin
from core.accounts.guards import is_admin, require_admin
from core.accounts.preferences import (
    delete_preset,
    get_preferences,
    list_presets,
    save_preset,
    set_appearance,
    set_preferences,
)
from core.accounts.teams import (
    add_member,
    allows,
    catalog_models,
    charged_team,
    check_allowed,
    create_team,
    delete_team,
    list_teams,
    remove_member,
    set_default_team,
    teams_of,
    update_team,
)
from core.accounts.throttle import LoginThrottle
from core.accounts.users import change_password, register_user, update_profile

__all__ = [
    "FirstAdmin", "LoginResult", "LoginThrottle", "add_member", "allows", "audit_log", "authenticate",
    "bootstrap_admin", "build_credentials", "catalog_models", "change_password", "charged_team", "check_allowed",
    "cookie_issued_at", "cookie_token", "create_team", "create_user", "delete_preset", "delete_team",
    "get_preferences", "hash_password", "is_admin", "list_presets", "list_teams", "list_users", "record_audit",
    "register_user", "remove_member", "require_admin", "reset_password", "revoke_sessions", "save_preset",
    "set_appearance", "set_default_team", "set_preferences", "set_role", "set_status", "teams_of", "update_profile",
    "update_team", "validate_session", "verify_password",
]

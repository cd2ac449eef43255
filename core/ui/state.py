"""Session-state keys, in one place. The first five belong to streamlit-authenticator."""

AUTH_STATUS = "authentication_status"
USERNAME = "username"
NAME = "name"
EMAIL = "email"
ROLES = "roles"
AUTH_LOGOUT = "logout"

USER_ID = "parley_user_id"
LOGIN_AT = "parley_login_at"
COOKIE_PENDING = "parley_cookie_pending"
COOKIE_TOKEN = "parley_cookie_token"
LOGOUT_PENDING = "parley_logout_pending"
FLASH = "parley_flash"

# Widget keys
LOGIN_USERNAME = "login_username"
LOGIN_PASSWORD = "login_password"
LOGIN_SUBMIT = "login_submit"
LOGOUT_BUTTON = "logout_button"

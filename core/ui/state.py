"""Every session-state key the UI reads or writes, in one place. The first six belong to streamlit-authenticator.

Widgets that are only drawn own their `key=` where they are drawn; a widget whose value the code reads from
session state has its key here.
"""

# streamlit-authenticator's
AUTH_STATUS = "authentication_status"
USERNAME = "username"
NAME = "name"
EMAIL = "email"
ROLES = "roles"
AUTH_LOGOUT = "logout"
COOKIE_SET = "set"  # extra_streamlit_components.CookieManager.set()'s component key: True once it has run

# Login and session
USER_ID = "parley_user_id"
LOGIN_AT = "parley_login_at"
COOKIE_PENDING = "parley_cookie_pending"
COOKIE_TOKEN = "parley_cookie_token"
LOGOUT_PENDING = "parley_logout_pending"
FLASH = "parley_flash"
LOGIN_USERNAME = "login_username"
LOGIN_PASSWORD = "login_password"
LOGIN_SUBMIT = "login_submit"
LOGIN_LANGUAGE = "login_language"
LOGOUT_BUTTON = "logout_button"

# Language and theme of this session
LANGUAGE = "parley_language"
THEME = "parley_theme"
PREFS_LOADED_FOR = "parley_prefs_loaded_for"

# Chat
CONV = "chat_conversation_id"
MODEL = "chat_model"
TEMPERATURE = "chat_temperature"
MAX_TOKENS = "chat_max_tokens"
SYSTEM = "chat_system_prompt"
TEAM = "chat_team"  # the team the chat is charged to
KNOWLEDGE = "chat_knowledge_bases"  # the knowledge bases answers come from

# Knowledge page
KB = "knowledge_kb"  # the knowledge base shown
KB_BUSY = "knowledge_busy_"  # + id: documents were indexing at the last progress refresh
PENDING = "chat_pending"
DRAFT = "chat_draft"
DRAFT_ERROR = "chat_draft_error"
DRAFT_FILES = "chat_draft_files"  # the refused message's images (core.history.attachments.Upload), sent with it again
PREFS = "chat_preferences"
PRESET = "chat_preset"
FOCUS = "chat_focus_message"
EDITING = "chat_editing"  # the id of the user message being edited in place
TURN_DONE = "chat_turn_done"  # set once the last streamed turn is stored (a threading.Event)
RETRY_AT = "chat_retry_at"  # epoch seconds when a limit lets the user send again (its countdown)

# History
HISTORY_PAGE = "hist_page"

# API tokens: a new token, kept for the one run that shows it
NEW_TOKEN = "parley_new_api_token"

# Chat sidebar's conversation list
CONV_SEARCH = "chat_conv_search"  # the title filter
CONV_SHOWN = "chat_conv_shown"  # how many rows "Show more" has asked for
CONV_DELETED = "chat_conv_deleted"  # the last deleted conversation (id, title, was open), offered back until dismissed

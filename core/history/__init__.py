"""History: a user's conversations and messages; list, search, organise, export and import them."""

from core.history.conversations import (
    conversation_params,
    create_conversation,
    get_owned,
    messages_of,
    params_json,
    read_conversation,
    recent_conversations,
    title_from,
    update_settings,
)
from core.history.organize import (
    ConversationRow,
    ListFilter,
    Page,
    delete,
    list_conversations,
    purge_deleted,
    rename,
    set_flags,
)
from core.history.search import Hit, search, snippet
from core.history.transfer import export_json, export_markdown, import_conversations, parse_import

__all__ = [
    "ConversationRow", "Hit", "ListFilter", "Page", "conversation_params", "create_conversation", "delete",
    "export_json", "export_markdown", "get_owned", "import_conversations", "list_conversations", "messages_of",
    "params_json", "parse_import", "purge_deleted", "read_conversation", "recent_conversations", "rename", "search",
    "set_flags", "snippet", "title_from", "update_settings",
]

"""History: a user's conversations and messages; list, search, organise, export and import them."""

from core.history.conversations import (
    conversation_knowledge,
    conversation_params,
    create_conversation,
    get_owned,
    messages_of,
    params_json,
    recent_conversations,
    title_from,
    update_settings,
)
from core.history.feedback import Rating, clear_feedback, feedback_for, give_feedback
from core.history.grouping import DayGroup, group_by_day, time_zone
from core.history.organize import (
    ConversationRow,
    ListFilter,
    Page,
    delete,
    list_conversations,
    purge_deleted,
    rename,
    restore,
    set_flags,
)
from core.history.search import Hit, search, snippet
from core.history.transfer import export_json, export_markdown, import_conversations, parse_import
from core.history.tree import (
    Thread,
    Version,
    branch,
    current_branch,
    read_conversation,
    read_thread,
    set_leaf,
    show_version,
    versions_of,
)

__all__ = [
    "DayGroup", "group_by_day", "restore", "time_zone",
    "Rating", "clear_feedback", "feedback_for", "give_feedback",
    "ConversationRow", "Hit", "ListFilter", "Page", "Thread", "Version", "branch", "conversation_knowledge",
    "conversation_params", "create_conversation", "current_branch", "delete", "export_json", "export_markdown",
    "get_owned", "import_conversations", "list_conversations", "messages_of", "params_json", "parse_import",
    "purge_deleted", "read_conversation", "read_thread", "recent_conversations", "rename", "search", "set_flags",
    "set_leaf", "show_version", "snippet", "title_from", "update_settings", "versions_of",
]

"""Chat: the ConversationManager runs turns (validate, limit, store, context, provider choice with fallback,
stream, store the reply and its usage); the response cache; the model picker's options."""

from functools import lru_cache

from core.chat.choice import ProviderChoice, ProviderChooser, ProviderOption
from core.chat.embedding import EmbeddingCharge, EmbeddingMeter
from core.chat.manager import ConversationManager
from core.chat.options import CallStopped, Charged, PlainCalls, TurnDeps, TurnOptions, TurnOutcome, TurnSetup
from core.chat.sources import cited, label, sources_of
from core.chat.turn import Turn


@lru_cache(maxsize=4)
def chat_manager(database_url: str) -> ConversationManager:
    """The process's manager for the configured database (its cache and limiter are shared by every session)."""
    return ConversationManager()


__all__ = [
    "CallStopped", "Charged", "ConversationManager", "EmbeddingCharge", "EmbeddingMeter", "PlainCalls",
    "ProviderChoice", "ProviderChooser", "ProviderOption", "Turn", "TurnDeps", "TurnOptions", "TurnOutcome",
    "TurnSetup", "chat_manager", "cited", "label", "sources_of",
]

"""The OpenAI-compatible API at /v1: chat completions and models for scripts and IDE plugins, authenticated by
personal API tokens, counted in the same limits and usage as the chat."""

from core.api.app import create_api
from core.api.tokens import (
           Caller,
           NewToken,
           authenticate_token,
           create_token,
           list_all_tokens,
           list_tokens,
           revoke_token,
)

__all__ = ["Caller", "NewToken", "authenticate_token", "create_api", "create_token", "list_all_tokens", "list_tokens",
           "revoke_token"]

"""Who may start a completion now: at most api.max_concurrent_per_user of one user's requests run at once.

Each running request holds one of the API's worker threads (api.workers) from its turn's start until the turn is
closed, including while its provider has not answered yet and after its client went away (a provider call cannot
be interrupted mid-read: the turn stops at the provider's next event, or its timeout). The cap is below the
number of workers, so one user's slow or abandoned requests can never take every worker: the others keep at
least workers - cap. It is counted per process, because that is what it protects: the process's own threads.

A refusal here (or by the request windows, which come next) is answered 429 and recorded in usage as `refused`,
as the chat records its refusals.
"""

from __future__ import annotations

import threading

from core.api.errors import ApiError, log_unexpected
from core.config import Settings
from core.db import session_scope
from core.i18n import Msg
from core.models import UsageKind, UsageSource, UsageStatus
from core.providers.base import Usage
from core.usage import record_usage

CONCURRENCY = "concurrency_limit"  # the usage event's error_kind for a refusal by the cap
WINDOWS = "rate_limited"  # ... by a request window (the chat's name for its own window and budget refusals)


class Slot:
    """One running request of a user; release() (once, from any thread) frees it."""

    def __init__(self, cap: ConcurrencyCap, user_id: int) -> None:
        self._cap, self._user_id = cap, user_id
        self._released = False

    def release(self) -> None:
        with self._cap.lock:
            if self._released:
                return
            self._released = True
            left = self._cap.running[self._user_id] - 1
            if left:
                self._cap.running[self._user_id] = left
            else:
                del self._cap.running[self._user_id]


class ConcurrencyCap:
    """How many requests each user has running in this process, at most `per_user`."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self.lock = threading.Lock()
        self.running: dict[int, int] = {}

    def acquire(self, user_id: int) -> Slot:
        """A slot for one more request of the user; 429 naming the cap when they already run per_user."""
        with self.lock:
            running = self.running.get(user_id, 0)
            if running >= self.per_user:
                raise ApiError(429, str(Msg("api.too_many_running", limit=self.per_user)),
                               code="too_many_concurrent_requests", headers={"Retry-After": "1"})
            self.running[user_id] = running + 1
        return Slot(self, user_id)


def record_refusal(*, settings: Settings, user_id: int, provider: str, model: str, token_name: str | None,
                   team_id: int | None, kind: str, usage_kind: UsageKind = UsageKind.chat) -> None:
    """A refused API request in usage (status refused, nothing spent), as the chat records its own; never raises:
    the client's 429 matters more than the record."""
    try:
        with session_scope() as session:
            record_usage(session=session, user_id=user_id, conversation_id=None, provider=provider, model=model,
                         usage=Usage(0, 0), status=UsageStatus.refused, error_kind=kind, ttft_ms=None,
                         total_ms=None, settings=settings, source=UsageSource.api, token_name=token_name,
                         team_id=team_id, kind=usage_kind)
    except Exception as exc:  # logged once; the refusal itself still goes out
        log_unexpected(exc, "api refusal not recorded", kind=kind)

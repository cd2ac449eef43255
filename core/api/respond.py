"""The answer to one completion request, produced after the endpoint returned: the turn runs on the API's executor
while the event loop waits for it and watches the client, so a client that leaves at any point — before the first
token, mid-stream, or while a whole (non-streamed) reply is being produced — cancels its turn (recorded
interrupted, its provider stream closed) instead of having it run to the end and be recorded complete.

Waiting happens on the loop, not on a thread of the server's shared pool: a provider slow to start answering
holds only its own worker (one of the user's api.max_concurrent_per_user), released when the turn is closed.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from core.api import completions as api
from core.api.admission import Slot
from core.api.errors import error_response, unexpected_response
from core.api.schemas import CompletionRequest
from core.api.streaming import Delta, Done, Event, Failed, TurnStream
from core.chat import Turn


@dataclass(frozen=True)
class Started:
    """What the endpoint hands on: the request's turn (its budget held), its model and its rate headers."""

    turn: Turn
    ref: api.ModelRef
    headers: dict[str, str]


class TurnResponse(Response):
    """Runs a started turn and answers with it: JSON, or OpenAI's event stream; the slot is freed when it ends."""

    def __init__(self, started: Started, body: CompletionRequest, slot: Slot, executor: Executor) -> None:
        super().__init__(headers=started.headers)
        self.started, self.asked, self.slot, self.executor = started, body, slot, executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = TurnStream(self.started.turn, on_done=self.slot.release).start(self.executor)
        watcher = stream.cancel_on_disconnect(receive)
        try:
            first = await (stream.first() if self.asked.stream else stream.outcome())
        except BaseException:  # the server is stopping this request: its turn stops too
            stream.cancel()
            raise
        finally:
            watcher.cancel()  # from here a streamed response watches the client itself
        await self._answer(first, stream)(scope, receive, send)
        if self.background is not None:
            await self.background()

    def _answer(self, first: Event, stream: TurnStream) -> Response:
        headers, ref = self.started.headers, self.started.ref
        if isinstance(first, Failed):
            stream.cancel()
            response = unexpected_response(first.correlation_id)
            response.headers.update(headers)
            return response
        if isinstance(first, Done):
            problem = api.failure(first.outcome)
            if problem is not None:  # nothing was sent yet: the failure gets its own status
                return error_response(problem.status, problem.message, code=problem.code, param=problem.param,
                                      headers={**problem.headers, **headers})
            if not self.asked.stream:
                return JSONResponse(api.complete(first.outcome, ref, self.started.turn.setup.sources),
                                    headers=headers)
        assert isinstance(first, Delta | Done)
        include_usage = bool(self.asked.stream_options and self.asked.stream_options.include_usage)
        return StreamingResponse(api.sse(first, stream, ref, include_usage), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", **headers})

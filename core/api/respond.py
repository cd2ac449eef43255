"""The answer to one completion request. Its whole job — caller, limits, the turn — runs on the API's executor
(core.api.streaming) while the event loop waits for it and watches the client, so a client that leaves at any point
— before the first token, mid-stream, or while a streamed reply is being produced — cancels its turn (recorded
interrupted, its provider stream closed) instead of having it run to the end and be recorded complete. A plain
reply is one call to the provider: once asked, it is produced (and recorded) whole.

Waiting happens on the loop, not on a thread of the server's shared pool: a provider slow to start answering
holds only its own worker (one of the user's api.max_concurrent_per_user), released when the turn is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive

from core.api import completions as api
from core.api.errors import error_response, unexpected_response
from core.api.schemas import CompletionRequest
from core.api.streaming import Delta, Done, Event, Failed, TurnStream
from core.chat import Turn


@dataclass(frozen=True)
class Started:
    """What a request's job hands the loop: its turn (its budget held), what was asked, its model, its rate headers."""

    turn: Turn
    asked: CompletionRequest
    ref: api.ModelRef
    headers: dict[str, str]


def turn_of(started: Started) -> Turn:
    return started.turn


async def respond(stream: TurnStream[Started], receive: Receive) -> Response:
    """Wait for the request's job (its refusal is raised here) and answer: JSON, or OpenAI's event stream."""
    watcher = stream.cancel_on_disconnect(receive)
    try:
        started = await stream.begun()
        first = await (stream.first() if started.asked.stream else stream.outcome())
    except BaseException:  # refused, or the server is stopping this request: its turn stops too
        stream.cancel()
        raise
    finally:
        watcher.cancel()  # from here a streamed response watches the client itself
    return _answer(started, first, stream)


def _answer(started: Started, first: Event, stream: TurnStream[Started]) -> Response:
    headers, ref, asked = started.headers, started.ref, started.asked
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
        if not asked.stream:
            return JSONResponse(api.complete(first.outcome, ref, started.turn.setup.sources), headers=headers)
    assert isinstance(first, Delta | Done)
    include_usage = bool(asked.stream_options and asked.stream_options.include_usage)
    return StreamingResponse(api.sse(first, stream, ref, include_usage), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", **headers})

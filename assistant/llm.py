"""Chat-model backends chosen by name (``openai``, ``ollama``, ``gguf:<path>``), built on first use.

Every backend is a LangChain ``BaseChatModel``; ``ChatModel`` wraps it so that each call has a
timeout and every failure (refused connection, timeout, HTTP 429 or other status, a reply that
is not the JSON it should be, an empty reply) surfaces as one ``AnswerBackendError`` whose
message says what happened, where, and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from assistant.gguf import GGUFServer
from assistant.settings import Settings
from values.errors import AnswerBackendError, ConfigError
from values.text import squash

OLLAMA_URL = "http://127.0.0.1:11434"
NO_API_KEY = "not-needed"
_CUT = "cut its reply off in the middle"


class ChatModel:
    """A named chat model, built on first use; its calls raise only ``AnswerBackendError``."""

    def __init__(self, name: str, build: Callable[[], BaseChatModel], *, where: str,
                 timeout: float, close: Callable[[], None] | None = None) -> None:
        self.name = name
        self.where = where
        self.timeout = timeout
        self._build = build
        self._close = close
        self._model: BaseChatModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> BaseChatModel:
        """The LangChain chat model (built, and for gguf the server started, on first access)."""
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def stream(self, messages: Sequence[BaseMessage]) -> Iterator[str]:
        """The reply in pieces as the model writes it.

        A stream that ends without the server's closing chunk (an OpenAI ``finish_reason``,
        Ollama's ``done``) was cut off, and one whose closing chunk says ``length`` stopped at the
        token limit: either way the pieces so far are half an answer, and an error.
        """
        produced = finished = False
        with self._failures(lambda: produced):
            for chunk in self.model.stream(list(messages)):
                meta = chunk.response_metadata
                finished = finished or bool(meta.get("finish_reason")) or meta.get("done") is True
                _check_not_truncated(meta, self.where)
                text = chunk.text
                if text:
                    produced = True
                    yield text
        if not produced:
            raise AnswerBackendError(f"{self.where} returned an empty reply: check the model name "
                                     "(VRAAGBAAK_LLM_MODEL) and the server's log")
        if not finished:
            raise AnswerBackendError(f"{self.where} {_CUT}: the connection closed before the reply was "
                                     "finished; try again, and check the server's log if it keeps happening")

    def complete(self, messages: Sequence[BaseMessage], stop: list[str] | None = None) -> str:
        """The whole reply at once (cut at the first ``stop`` string)."""
        with self._failures():
            reply = self.model.invoke(list(messages), stop=stop)
        _check_not_truncated(reply.response_metadata, self.where)
        text = reply.text
        if not text.strip():
            raise AnswerBackendError(f"{self.where} returned an empty reply")
        return text

    def close(self) -> None:
        """Release what the backend holds (the gguf server); a later call builds it again."""
        with self._lock:
            self._model = None
        if self._close is not None:
            self._close()

    @contextmanager
    def _failures(self, started: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Turn the client libraries' exceptions into one clear ``AnswerBackendError``.

        ``started`` says whether part of the reply has arrived: then a lost connection or a
        timeout cut the reply off in the middle, and the message says so.
        """
        oa = _openai_errors()
        timeouts: tuple[type[Exception], ...] = (*oa.timeout, httpx.TimeoutException)
        unreachable: tuple[type[Exception], ...] = (*oa.connection, httpx.TransportError, ConnectionError)
        refused: tuple[type[Exception], ...] = (*oa.status, *_ollama_errors())
        try:
            yield
        except timeouts as e:
            if started():
                raise AnswerBackendError(f"{self.where} {_CUT}: nothing more came for {self.timeout:g} s; "
                                         "the server is busy or stuck: try again or raise VRAAGBAAK_LLM_TIMEOUT"
                                         ) from e
            raise AnswerBackendError(
                f"{self.where} did not answer within {self.timeout:g} s: the server is busy or stuck; "
                "raise VRAAGBAAK_LLM_TIMEOUT or try again") from e
        except unreachable as e:
            if started():
                raise AnswerBackendError(f"{self.where} {_CUT}: the connection was lost before the reply was "
                                         f"finished [{_cause(e)}]; try again") from e
            raise AnswerBackendError(
                f"cannot connect to {self.where}: is the server running? "
                f"(VRAAGBAAK_LLM_BASE_URL) [{_cause(e)}]") from e
        except refused as e:
            status = getattr(e, "status_code", None)
            hint = " (rate limit): wait and try again" if status == 429 else ""
            raise AnswerBackendError(f"{self.where} answered HTTP {status}{hint}: {_short(e)}") from e
        except oa.other as e:
            raise AnswerBackendError(f"{self.where} failed: {_short(e)}") from e
        except ValueError as e:
            if "no generation chunks" in str(e).lower():  # langchain: the stream held no chunk at all
                raise AnswerBackendError(f"{self.where} sent an empty or malformed reply: no answer text "
                                         "in its event stream") from e
            raise AnswerBackendError(
                f"{self.where} sent a malformed reply (not an OpenAI/Ollama chat response): {_short(e)}"
            ) from e
        except (TypeError, KeyError) as e:
            # JSON that parses to the wrong shape (no choices, no message)
            raise AnswerBackendError(
                f"{self.where} sent a malformed reply (not an OpenAI/Ollama chat response): {_short(e)}"
            ) from e


def _check_not_truncated(meta: dict[str, object], where: str) -> None:
    """Raise when the server says it stopped at the token limit: what came is half an answer.

    OpenAI and llama.cpp say so in ``finish_reason``, Ollama in ``done_reason``.
    """
    if "length" in (meta.get("finish_reason"), meta.get("done_reason")):
        raise AnswerBackendError(f"{where} cut the answer off at the token limit: the reply was not finished; "
                                 "raise VRAAGBAAK_LLM_MAX_TOKENS (or ask a narrower question)")


def make_chat_model(settings: Settings) -> ChatModel:
    """The chat backend named by ``settings.llm``: 'openai', 'ollama' or 'gguf:<path>'."""
    name = settings.llm
    if name == "openai":
        model = _require_model(settings)
        url = settings.llm_base_url
        return ChatModel("openai", lambda: _openai(settings, url, model, "openai"), timeout=settings.llm_timeout,
                         where=f"the OpenAI-compatible server {url or 'api.openai.com'} (model {model})")
    if name == "ollama":
        model = _require_model(settings)
        url = settings.llm_base_url or OLLAMA_URL
        return ChatModel("ollama", lambda: _ollama(settings, url, model), timeout=settings.llm_timeout,
                         where=f"Ollama at {url} (model {model})")
    if name.startswith("gguf:"):
        path = Path(name.removeprefix("gguf:")).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF model file {str(path)!r} does not exist: "
                              "set VRAAGBAAK_LLM=gguf:/path/to/model.gguf")
        server = GGUFServer(path, threads=settings.llm_threads, context=settings.llm_context)

        def gguf_client() -> BaseChatModel:
            _chat_openai(name)  # before the server loads the model: a missing extra costs nothing
            # llama.cpp's long-time CLI default: at temperature 0 a small model looped ("het aantal het
            # aantal …") to the token limit in 2 of 5 runs of the GGUF test, in none of 8 with it
            return _openai(settings, server.base_url, server.model_name, name, {"repeat_penalty": 1.1})

        return ChatModel(f"gguf:{path.name}", gguf_client,
                         timeout=settings.llm_timeout, close=server.stop,
                         where=f"the local llama.cpp server for {path.name}")
    raise ConfigError(
        f"unknown answer backend {name!r}: use 'extractive', 'openai', 'ollama' or 'gguf:<path>'")


def _openai(settings: Settings, base_url: str | None, model: str, backend: str,
            extra: dict[str, object] | None = None) -> BaseChatModel:
    """An OpenAI-compatible chat client; ``backend`` (the VRAAGBAAK_LLM value) names what needs it."""
    return _chat_openai(backend)(
        model=model, base_url=base_url, api_key=settings.llm_api_key or NO_API_KEY,  # type: ignore[arg-type]
        timeout=settings.llm_timeout, max_retries=settings.llm_retries,
        temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,  # type: ignore[call-arg]
        # langchain-openai sends max_completion_tokens, which some servers ignore
        extra_body={"max_tokens": settings.llm_max_tokens, **(extra or {})},
    )


def _chat_openai(backend: str) -> type[BaseChatModel]:
    """langchain-openai's ChatOpenAI, or a ConfigError naming ``backend`` and the extra to install."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as e:
        raise ConfigError(f"VRAAGBAAK_LLM={backend} needs langchain-openai, which the base install lacks: "
                          "pip install 'vraagbaak[llm]'") from e
    return ChatOpenAI


def _ollama(settings: Settings, base_url: str, model: str) -> BaseChatModel:
    try:
        from langchain_ollama import ChatOllama
    except ImportError as e:
        raise ConfigError("VRAAGBAAK_LLM=ollama needs langchain-ollama, which the base install lacks: "
                          "pip install 'vraagbaak[llm]'") from e
    return ChatOllama(model=model, base_url=base_url, temperature=settings.llm_temperature,
                      num_predict=settings.llm_max_tokens, num_ctx=settings.llm_context,
                      client_kwargs={"timeout": settings.llm_timeout})


def _require_model(settings: Settings) -> str:
    if not settings.llm_model:
        raise ConfigError(f"VRAAGBAAK_LLM={settings.llm} needs a model name: set VRAAGBAAK_LLM_MODEL "
                          "(any name for a server that serves one model)")
    return settings.llm_model


@dataclass(frozen=True)
class _OpenAIErrors:
    timeout: tuple[type[Exception], ...] = ()
    connection: tuple[type[Exception], ...] = ()
    status: tuple[type[Exception], ...] = ()
    other: tuple[type[Exception], ...] = ()


def _openai_errors() -> _OpenAIErrors:
    try:
        import openai
    except ImportError:  # an ollama-only install
        return _OpenAIErrors()
    return _OpenAIErrors((openai.APITimeoutError,), (openai.APIConnectionError,),
                         (openai.APIStatusError,), (openai.APIError,))


def _ollama_errors() -> tuple[type[Exception], ...]:
    try:
        import ollama
    except ImportError:
        return ()
    return (ollama.ResponseError,)


def _cause(e: BaseException) -> str:
    """The innermost reason ("[Errno 111] Connection refused"), not a wrapper's "Connection error."."""
    inner, seen = e, {id(e)}
    while (deeper := inner.__cause__ or inner.__context__) is not None and id(deeper) not in seen:
        inner = deeper
        seen.add(id(inner))
    return str(inner).strip()[:200] or str(e).strip()[:200] or type(e).__name__


def _short(e: BaseException) -> str:
    return squash(str(e))[:300] or type(e).__name__

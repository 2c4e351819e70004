"""A minimal client for OpenAI-compatible ``/chat/completions`` endpoints, with retries.

Why our own ~100 lines and not the ``openai`` package: it is not a dependency of lm-eval or of
this project, and the judge needs exactly one call; ``httpx`` is already installed (through
``huggingface_hub``, which ``datasets`` and ``transformers`` require). lm-eval's own API model
classes are built to be the model under evaluation, not to be called from a metric.

Works with hosted APIs and local servers alike (vLLM, llama.cpp's ``llama-server`` and
``llama_cpp.server``, Ollama's ``/v1``). Time-outs, dropped connections, HTTP 429 and 5xx
are retried with exponential back-off (honouring ``Retry-After``); other HTTP errors are not
retried: 400, 413 and 422 refuse only the request at hand (e.g. a prompt over a small local
judge's context) and the caller counts it as an invalid judgment; 401, 403, 404 and the like
stop the run. The API key travels only in the ``Authorization`` header and is masked in any
error text a server sends back; a key about to go over plain http to a host other than this
machine (loopback: 127.0.0.0/8, ::1, ``localhost``) is warned about once per endpoint.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
from typing import Any

import httpx

from .config import JudgeConfig

MAX_BACKOFF_S = 60.0

log = logging.getLogger(__name__)


class JudgeError(RuntimeError):
    """The judge endpoint refused a request in a way retrying cannot fix."""


class JudgeUnavailableError(JudgeError):
    """The judge endpoint kept failing (down, overloaded or timing out) after all retries."""


class JudgeRequestRejected(JudgeError):
    """The endpoint refused this one request (HTTP 400/413/422, e.g. over the judge's context)."""


def request_body(config: JudgeConfig, messages: list[dict[str, str]]) -> dict[str, Any]:
    """The request body for ``messages``: all of it but the key (also the cache key's input)."""
    return {
        "model": config.model,
        "messages": messages,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
    }


class ChatClient:
    """Sends chat requests to ``config.base_url``; safe to share between threads."""

    def __init__(self, config: JudgeConfig, stop: threading.Event | None = None):
        self.config = config
        self.stop = stop or threading.Event()  # set by the caller to end retry loops early
        headers = {"Content-Type": "application/json"}
        key = config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
            _warn_if_key_in_clear(config)
        self._http = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout),
            limits=httpx.Limits(max_connections=config.concurrency),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _scrub(self, text: str) -> str:
        """``text`` with the API key masked, should a server echo it back."""
        key = self.config.api_key()
        return text.replace(key, "***") if key else text

    def probe(self, timeout: float = 5.0) -> str | None:
        """Why the endpoint cannot be reached right now, or None if it answers at all.

        A quick ``GET /models`` before a long generation run, so that a wrong URL or a server
        not started yet shows up in seconds instead of after the model has answered everything.
        """
        try:
            self._http.get("/models", timeout=timeout)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {self._scrub(str(err))}"
        return None

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The judge's reply text; raises :class:`JudgeUnavailableError` once retries run out."""
        body = request_body(self.config, messages)
        attempts = self.config.max_retries + 1
        last = "no attempt made"
        for attempt in range(attempts):
            if self.stop.is_set():
                raise JudgeUnavailableError(f"judge requests stopped after an earlier failure ({last})")
            retry_after = None
            try:
                response = self._http.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                last = f"timed out after {self.config.timeout:g} s"
            except httpx.TransportError as err:
                last = f"connection failed ({type(err).__name__}: {self._scrub(str(err))})"
            else:
                if response.status_code == 200:
                    text = _reply_text(response)
                    if text is not None:
                        return text
                    last = "HTTP 200 without a chat completion in the body"
                elif response.status_code == 429 or response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                    retry_after = _retry_after(response)
                else:
                    kind = JudgeRequestRejected if response.status_code in (400, 413, 422) else JudgeError
                    raise kind(
                        f"judge endpoint {self.config.base_url} answered HTTP {response.status_code}: "
                        f"{self._scrub(_error_detail(response))}"
                        + (f" (check the key in ${self.config.api_key_env})" if response.status_code in (401, 403) else "")
                    )
            if attempt + 1 < attempts:
                delay = retry_after if retry_after is not None else self.config.backoff * 2**attempt
                delay = min(delay, MAX_BACKOFF_S) * (1 + 0.1 * random.random())
                if self.stop.wait(delay):
                    raise JudgeUnavailableError(f"judge requests stopped after an earlier failure ({last})")
        raise JudgeUnavailableError(
            f"judge endpoint {self.config.base_url} (model {self.config.model!r}) failed {attempts} "
            f"time(s) in a row; last: {last}"
        )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only "localhost" is known to stay on this machine
        return False


_WARNED_IN_CLEAR: set[tuple[str, str]] = set()


def _warn_if_key_in_clear(config: JudgeConfig) -> None:
    """Warn once per endpoint when the key would cross a network unencrypted."""
    url = httpx.URL(config.base_url)
    if url.scheme != "http" or _is_loopback(url.host) or (config.base_url, config.api_key_env) in _WARNED_IN_CLEAR:
        return
    _WARNED_IN_CLEAR.add((config.base_url, config.api_key_env))
    log.warning(
        "judge: the API key in $%s goes to %s over plain http, readable on every network in between; "
        "use https, or a judge on this machine", config.api_key_env, config.base_url,
    )


def _reply_text(response: httpx.Response) -> str | None:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _error_detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or response.reason_phrase)[:300]

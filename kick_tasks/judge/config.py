"""Which LLM judge to call, read from lm-eval ``--metadata`` or the environment.

Every setting has a ``--metadata`` key ``judge_<name>`` and an environment variable
``KICK_JUDGE_<NAME>``; the metadata key wins. The judge is on when a base URL is set::

    judge_base_url     KICK_JUDGE_BASE_URL     OpenAI-compatible root, e.g. http://127.0.0.1:8080/v1
    judge_model        KICK_JUDGE_MODEL        model name sent to the endpoint (required)
    judge_api_key_env  KICK_JUDGE_API_KEY_ENV  NAME of the variable holding the key (default KICK_JUDGE_API_KEY)
    judge_concurrency  KICK_JUDGE_CONCURRENCY  requests in flight at once (default 4)
    judge_temperature  KICK_JUDGE_TEMPERATURE  sampling temperature (default 0.0)
    judge_timeout      KICK_JUDGE_TIMEOUT      seconds per request (default 120)
    judge_max_tokens   KICK_JUDGE_MAX_TOKENS   reply budget (default 512)
    judge_max_retries  KICK_JUDGE_MAX_RETRIES  retries on time-outs, 429 and 5xx (default 6)
    judge_backoff      KICK_JUDGE_BACKOFF      first retry delay in seconds, doubled each time (default 1)
    judge_both_orders  KICK_JUDGE_BOTH_ORDERS  ask each pair twice, order swapped (default true)
    judge_cache_dir    KICK_JUDGE_CACHE_DIR    where judgments are kept (default ~/.cache/llm-kick/judge)

The ``kick_reference_*`` judged tasks fix temperature, both_orders and max_tokens to the
reference code's values (``kick_tasks.judged.judge_json``).

The API key itself is read only from the environment, by name, at request time: lm-eval
copies ``--metadata`` into every results file, so a key passed there would be written to
disk. ``judge_api_key`` in the metadata is therefore refused. Which variable holds the key
is the user's own choice: ``KICK_JUDGE_API_KEY_ENV`` may name any variable, but
``judge_api_key_env`` from ``--metadata`` (or a sweep file, which fills it) only one whose name
ends in ``_API_KEY``, so that a shared file cannot send, say, ``$AWS_SECRET_ACCESS_KEY`` as a
bearer token to its own URL. The client warns when the key goes over plain http to a host
other than this machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METADATA_PREFIX = "judge_"
ENV_PREFIX = "KICK_JUDGE_"
DEFAULT_KEY_ENV = "KICK_JUDGE_API_KEY"
KEY_ENV_FROM_METADATA = re.compile(r"[A-Za-z_][A-Za-z0-9_]*_API_KEY")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class JudgeConfigError(ValueError):
    """A judge setting is missing or invalid; the message names it and what is allowed."""


def default_cache_dir() -> str:
    from kick_core.paths import cache_root

    return str(cache_root() / "judge")


@dataclass(frozen=True)
class JudgeConfig:
    """Connection and protocol settings of the judge (no secrets: safe to log and store)."""

    base_url: str
    model: str
    api_key_env: str = DEFAULT_KEY_ENV
    concurrency: int = 4
    temperature: float = 0.0
    timeout: float = 120.0
    max_tokens: int = 512
    max_retries: int = 6
    backoff: float = 1.0
    both_orders: bool = True
    cache_dir: str = dataclasses.field(default_factory=default_cache_dir)

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise JudgeConfigError(
                f"judge_base_url={self.base_url!r} must start with http:// or https:// "
                "(the OpenAI-compatible root, e.g. http://127.0.0.1:8080/v1)"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.model:
            raise JudgeConfigError(
                "judge_model is required with judge_base_url (the model name the endpoint serves; "
                "it is part of every cache key)"
            )
        checks = {
            "concurrency": self.concurrency >= 1,
            "temperature": 0.0 <= self.temperature <= 2.0,
            "timeout": self.timeout > 0,
            "max_tokens": self.max_tokens >= 16,
            "max_retries": self.max_retries >= 0,
            "backoff": self.backoff >= 0,
        }
        allowed = {
            "concurrency": ">= 1",
            "temperature": "in [0, 2]",
            "timeout": "> 0 seconds",
            "max_tokens": ">= 16",
            "max_retries": ">= 0",
            "backoff": ">= 0 seconds",
        }
        for name, ok in checks.items():
            if not ok:
                raise JudgeConfigError(f"judge_{name}={getattr(self, name)!r} is invalid: must be {allowed[name]}")

    def api_key(self) -> str | None:
        """The key from the environment variable named by ``api_key_env`` (None when unset)."""
        return os.environ.get(self.api_key_env) or None

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser() / "judgments.jsonl"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JudgeConfig:
        return cls(**json.loads(text))


FIELDS = {f.name: f for f in dataclasses.fields(JudgeConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a metadata or environment value into the field's type, or fail naming it."""
    kind = FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise JudgeConfigError(f"judge_{name}={value!r} is not a valid {kind}") from None


def judge_config(
    metadata: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> JudgeConfig | None:
    """The judge settings from ``--metadata`` (``judge_*``) over ``KICK_JUDGE_*``; None if off."""
    metadata = metadata or {}
    environ = os.environ if environ is None else environ
    if "judge_api_key" in metadata:
        raise JudgeConfigError(
            "judge_api_key must not be passed in --metadata (lm-eval writes metadata into the "
            f"results files); put the key in the environment variable {DEFAULT_KEY_ENV}, or name "
            "another variable with judge_api_key_env"
        )
    key_env = metadata.get(METADATA_PREFIX + "api_key_env")
    if key_env not in (None, "") and not (isinstance(key_env, str) and KEY_ENV_FROM_METADATA.fullmatch(key_env)):
        raise JudgeConfigError(
            f"judge_api_key_env={key_env!r} is refused: in --metadata or a sweep file it must name a variable "
            "ending in _API_KEY (e.g. OPENAI_API_KEY); to use another variable, set KICK_JUDGE_API_KEY_ENV in "
            "your own environment"
        )
    unknown = sorted(k for k in metadata if k.startswith(METADATA_PREFIX) and k[len(METADATA_PREFIX):] not in FIELDS)
    if unknown:
        raise JudgeConfigError(
            f"unknown judge setting(s) {unknown}; allowed: {sorted(METADATA_PREFIX + f for f in FIELDS)}"
        )
    values = {}
    for name in FIELDS:
        if metadata.get(METADATA_PREFIX + name) not in (None, ""):
            values[name] = _coerce(name, metadata[METADATA_PREFIX + name])
        elif environ.get(ENV_PREFIX + name.upper()):
            values[name] = _coerce(name, environ[ENV_PREFIX + name.upper()])
    if not values.get("base_url"):
        return None
    values.setdefault("model", "")
    return JudgeConfig(**values)

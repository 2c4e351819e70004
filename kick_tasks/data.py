"""Where a task's data comes from: its public Hugging Face hub dataset, or a local copy.

By default every task loads its public hub dataset. Offline machines point all tasks at one
local folder with a single switch, either of:

* the environment variable ``KICK_DATA_DIR=/path/to/data``, or
* lm-eval's ``--metadata '{"data_dir": "/path/to/data"}'`` (wins over the variable).

The folder mirrors the files of the LLM-KICK reference code (VITA-Group/llm-kick); a task
reads only its own entries (see each task's README)::

    mmlu/dev/<subject>_dev.csv, mmlu/test/<subject>_test.csv   (no header; question,A,B,C,D,answer)
    freebaseqa/FreebaseQA-eval.json                           (official FreebaseQA JSON)
    freebaseqa/FreebaseQA-train.json                          (the same schema; kick_reference_factoid_qa)
    triviaqa/rc_with_context.jsonl                            (question, answer_aliases, context)
    kick_summarization/questions.jsonl                        (question_id, text)
    kick_conversation/questions.jsonl                         (question_id, category, text)
    mt_bench/question.jsonl, mt_bench/reference_answer/gpt-4.jsonl, judge_prompts.jsonl
                                                              (FastChat's llm_judge/data; MT-Bench)

A missing or malformed local file, or an unreachable hub with no local copy, stops the run
with one line that names the path expected, its format and the hub dataset id.

Provenance: every file or hub dataset a task reads is recorded in this process
(:func:`sources_read`: local path + SHA-256, or hub id + requested revision + the loaded
dataset's fingerprint), so that a results file can say which data it scored
(``--model kick``'s ``config.kick.data``, ``kick sweep``'s ``kick_provenance``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from kick_core.digests import FileDigests

ENV_VAR = "KICK_DATA_DIR"
METADATA_KEY = "data_dir"


class KickDataError(RuntimeError):
    """A task's data could not be read; the message says what to fix."""


# What this process's tasks read, in order: {identity: record}. Tasks are loaded inside
# lm-eval, which gives a loader no handle on the results; the caller that writes results
# (the sweep worker, KickLM) reads this instead. ``_DIGESTS`` remembers each file's SHA-256,
# so reloading a task does not hash its files again.
_READ: dict[str, dict[str, Any]] = {}
_DIGESTS = FileDigests()


def record_file(path: Path) -> None:
    """Record a local data file as read: its absolute path and SHA-256."""
    path = Path(path).resolve()
    _READ[str(path)] = {"path": str(path), "sha256": _DIGESTS.sha256(path)}


def sources_read() -> list[dict[str, Any]]:
    """The data files and hub datasets read since the last :func:`forget_sources`."""
    return list(_READ.values())


def forget_sources() -> None:
    """Start a new record (before loading the next task whose data should be told apart)."""
    _READ.clear()


def sources_digest(sources: list[dict[str, Any]]) -> str:
    """One SHA-256 over what ``sources`` hold (their contents, not where they lie): equal
    for the same data installed in two places."""
    parts = sorted(source.get("sha256") or json.dumps(source, sort_keys=True) for source in sources)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def configured_data_dir(metadata: dict[str, Any] | None = None) -> Path | None:
    """The local data folder from ``--metadata data_dir`` or ``KICK_DATA_DIR``, if any."""
    value = (metadata or {}).get(METADATA_KEY) or os.environ.get(ENV_VAR)
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise KickDataError(
            f"local data folder {str(folder)!r} (from {'--metadata data_dir' if (metadata or {}).get(METADATA_KEY) else ENV_VAR}) "
            "does not exist or is not a folder"
        )
    return folder


def local_file(folder: Path, relative: str, *, fmt: str, hub_id: str | None = None) -> Path:
    """``folder/relative``, or a :class:`KickDataError` naming the path, format and hub id
    (``hub_id=None``: the data has no public hub dataset, so a local copy is the only source)."""
    path = folder / relative
    if not path.is_file():
        fallback = (
            f"or unset {ENV_VAR}/data_dir to load the hub dataset {hub_id!r}"
            if hub_id
            else "this data has no hub dataset, so the local copy is required"
        )
        raise KickDataError(f"missing local data file {str(path)!r}: expected {fmt}; provide it, {fallback}")
    record_file(path)
    return path


def read_text(path: Path, *, fmt: str, hub_id: str | None = None) -> str:
    """A local data file's text (UTF-8), or one line naming the file, the byte and the fix."""
    try:
        return Path(path).read_bytes().decode("utf-8")  # newlines as they are (CSV fields may hold them)
    except UnicodeDecodeError as err:
        source = f"; or unset {ENV_VAR}/data_dir to load the hub dataset {hub_id!r}" if hub_id else ""
        raise KickDataError(
            f"malformed local data file {str(path)!r}: not UTF-8 ({err.reason} at byte {err.start}); expected {fmt}: "
            f"convert it (e.g. iconv -f latin1 -t utf-8){source}"
        ) from None


def read_jsonl(path: Path, required: Iterable[str], *, hub_id: str | None = None,
               integers: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file, each an object carrying the ``required`` fields, those in
    ``integers`` holding integers (or strings of digits)."""
    required, integers = tuple(required), tuple(integers)
    rows = []
    record_file(path)
    text = read_text(path, fmt=f"JSON lines with fields {list(required)}", hub_id=hub_id)
    for number, row in json_objects(text, lambda what: malformed(path, what, required, hub_id)):
        missing = [key for key in required if key not in row]
        if missing:
            raise malformed(path, f"line {number} lacks {missing}", required, hub_id)
        for key in integers:
            if not is_integer(row[key]):
                raise malformed(path, f"line {number} has {key}={row[key]!r}, not an integer", required, hub_id)
        rows.append(row)
    if not rows:
        raise malformed(path, "it holds no rows", required, hub_id)
    return rows


def json_objects(text: str, error: Callable[[str], Exception]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-empty line of JSON-lines ``text``; a line that
    is not JSON, or not a JSON object, raises ``error(what)``."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"line {number} is not JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise error(f"line {number} is a JSON {type(row).__name__}, not an object")
        yield number, row


def is_integer(value: Any) -> bool:
    """An int (not a bool), or a string of digits: what ``int()`` turns into a question id."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())


def malformed(path: Path, what: str, fields: Iterable[str], hub_id: str | None = None) -> KickDataError:
    layout = f"the layout of the hub dataset {hub_id!r}" if hub_id else "the layout"
    return KickDataError(
        f"malformed local data file {str(path)!r}: {what}; expected JSON lines with fields "
        f"{list(fields)} ({layout} is described in the task README)"
    )


def load_hub(hub_id: str, name: str | None = None, **kwargs):
    """``datasets.load_dataset`` with a one-line error naming the offline fix."""
    import datasets

    try:
        loaded = datasets.load_dataset(hub_id, name, **kwargs)
    except Exception as err:  # offline, gated, renamed: all need the same advice
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KickDataError(
            f"could not load the hub dataset {hub_id!r}{f' ({name})' if name else ''}: {reason[:200]}; "
            f"with no network, set {ENV_VAR}=/path/to/data (or --metadata '{{\"data_dir\": ...}}') "
            "to read a local copy (layout: kick_tasks/data.py)"
        ) from None
    parts = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
    _READ[f"hub:{hub_id}:{name}:{kwargs.get('split')}"] = {
        "hub_id": hub_id, "name": name, "split": kwargs.get("split"), "revision": kwargs.get("revision") or "main",
        # the fingerprint datasets gives the data it loaded: it changes with the files' contents
        "fingerprint": "+".join(part._fingerprint for part in parts),
    }
    return loaded


def local_or_hub(
    metadata: dict[str, Any],
    from_local: Callable[[Path], Any],
    from_hub: Callable[[], Any],
):
    """Run ``from_local(folder)`` when a data folder is configured, else ``from_hub()``."""
    folder = configured_data_dir(metadata)
    return from_local(folder) if folder is not None else from_hub()

"""Calibration tokens for the methods that look at activations (Wanda, SparseGPT).

The reference protocol (SparseGPT's ``datautils.py``, reused by Wanda and LLM-KICK): 128
sequences of 2,048 tokens from the first English shard of C4
(``en/c4-train.00000-of-01024.json.gz``), seed 0. With ``random.seed(seed)``, each sequence
draws random documents until one has more than ``seqlen`` tokens, then a random window of
``seqlen`` tokens inside it. We replay that exactly (same RNG calls, same tokenizer call), so
the same model and settings give the reference's calibration set.

Sources (``CalibrationConfig.source``):

* ``"c4"`` – the hub dataset ``allenai/c4``, that shard (default).
* ``"wikitext2"`` – the hub dataset ``Salesforce/wikitext`` (``wikitext-2-raw-v1``, train),
  joined with spaces and cut into random windows, as the reference's ``get_wikitext2``.
* ``"builtin"`` – ``compressors/data/calibration_en.txt``, plain English the project wrote.
* ``"random"`` – uniform random token ids (for speed benchmarks: no meaning, no download).
* a path: ``.txt`` (one text, random windows like wikitext2), or documents in ``.jsonl`` /
  ``.json`` (field ``text``; a JSON array or JSON lines), optionally ``.gz`` – sampled like C4,
  so a local copy of the C4 shard reproduces the hub default exactly.

A text source needs more than ``seqlen`` tokens; windows are drawn independently and may
overlap (as in the reference), so a text shorter than ``nsamples * seqlen`` tokens reuses
tokens rather than failing. With no network and no local file, :class:`CalibrationError`
says how to point at a local file.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from compressors.options import CALIBRATION_OPTIONS, CALIBRATION_SOURCES
from kick_core.digests import sha256_file

__all__ = ["NAMED_SOURCES", "CalibrationConfig", "CalibrationError", "builtin_text", "calibration_tokens"]

C4_HUB = ("allenai/c4", "en/c4-train.00000-of-01024.json.gz")
WIKITEXT2_HUB = ("Salesforce/wikitext", "wikitext-2-raw-v1")
NAMED_SOURCES = CALIBRATION_SOURCES
TEXT_SUFFIXES = (".txt", ".txt.gz")
DOCUMENT_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
OFFLINE_FIX = "set calibration=<path to a .txt/.jsonl/.json file> or calibration=builtin"


class CalibrationError(RuntimeError):
    """Calibration data could not be read or sampled; the message says what to change."""


@dataclass(frozen=True)
class CalibrationConfig:
    """Where calibration text comes from and how much of it (defaults: the reference's)."""

    # The keys of compressors.options.CALIBRATION_OPTIONS (``calibration`` is ``source``).
    source: str = CALIBRATION_OPTIONS["calibration"].default
    nsamples: int = CALIBRATION_OPTIONS["nsamples"].default
    seqlen: int = CALIBRATION_OPTIONS["seqlen"].default
    seed: int = CALIBRATION_OPTIONS["seed"].default

    @classmethod
    def from_args(cls, **kwargs: Any) -> CalibrationConfig:
        """Build and validate from ``--model_args`` values (``calibration=``, ``nsamples=``,
        ``seqlen=``, ``seed=``), each parsed by its :data:`~compressors.options.CALIBRATION_OPTIONS`
        entry."""
        unknown = sorted(set(kwargs) - set(CALIBRATION_OPTIONS))
        if unknown:
            raise ValueError(f"unknown calibration argument(s) {unknown}: allowed {sorted(CALIBRATION_OPTIONS)}")
        values = {name: CALIBRATION_OPTIONS[name].parse(value) for name, value in kwargs.items()}
        if "calibration" in values:
            values["source"] = values.pop("calibration")
        return cls(**values).validate()

    def validate(self) -> CalibrationConfig:
        """Return ``self`` or raise ValueError naming the bad value and the allowed ones."""
        for option in CALIBRATION_OPTIONS.values():
            value = getattr(self, option.name, None)
            if option.kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < option.minimum):
                raise ValueError(f"{option.name}={value!r} is not allowed: give an integer >= {option.minimum}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"source={self.source!r} is not allowed: {self._allowed()}")
        if self.source not in NAMED_SOURCES:
            path = Path(self.source).expanduser()
            if not path.name.lower().endswith(TEXT_SUFFIXES + DOCUMENT_SUFFIXES):
                raise ValueError(f"calibration source {self.source!r} is not allowed: {self._allowed()}")
            if not path.is_file():
                raise ValueError(f"calibration file {str(path)!r} does not exist")
        return self

    @staticmethod
    def _allowed() -> str:
        return (
            f"one of {list(NAMED_SOURCES)} or a path to a "
            f"{'/'.join(TEXT_SUFFIXES + DOCUMENT_SUFFIXES)} file"
        )

    @property
    def path(self) -> Path | None:
        """The local file behind this source (the builtin text included), if any."""
        if self.source == "builtin":
            return Path(str(resources.files("compressors") / "data" / "calibration_en.txt"))
        if self.source in NAMED_SOURCES:
            return None
        return Path(self.source).expanduser().resolve()

    @cached_property
    def _file_sha256(self) -> str | None:
        return None if self.path is None else sha256_file(self.path)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable and stable; local files are identified by path and content hash."""
        self.validate()
        out: dict[str, Any] = {
            "source": self.source,
            "nsamples": self.nsamples,
            "seqlen": self.seqlen,
            "seed": self.seed,
        }
        if self.source == "c4":
            out["hub"] = {"dataset": C4_HUB[0], "data_files": C4_HUB[1]}
        elif self.source == "wikitext2":
            out["hub"] = {"dataset": WIKITEXT2_HUB[0], "name": WIKITEXT2_HUB[1], "split": "train"}
        elif self.path is not None:
            out["file"] = {"path": str(self.path), "sha256": self._file_sha256}
        return out

    def cache_key(self) -> dict[str, Any]:
        """:meth:`as_dict` without where a file lies: a calibration file is its SHA-256, so the
        same data installed in two places is the same calibration (the cache's key scheme 2)."""
        out = self.as_dict()
        if "file" in out:
            out["file"] = {"sha256": out["file"]["sha256"]}
            if self.source != "builtin":
                out["source"] = "file"
        return out


def builtin_text(name: str = "calibration_en") -> str:
    """A project-written English text shipped in ``compressors/data`` (``calibration_en``,
    ``heldout_en``)."""
    return (resources.files("compressors") / "data" / f"{name}.txt").read_text(encoding="utf-8")


def calibration_tokens(tokenizer, config: CalibrationConfig) -> torch.LongTensor:
    """``(nsamples, seqlen)`` token ids sampled from ``config.source`` with ``config.seed``."""
    config.validate()
    if config.source == "random":
        generator = torch.Generator().manual_seed(config.seed)
        return torch.randint(0, len(tokenizer), (config.nsamples, config.seqlen), generator=generator)
    if config.source == "c4":
        return _document_windows(tokenizer, _hub_c4(), config, where="the C4 shard")
    if config.source == "wikitext2":
        return _text_windows(tokenizer, _hub_wikitext2(), config, where="WikiText-2 train")
    path = config.path
    name = path.name.lower()
    if name.endswith(TEXT_SUFFIXES):
        return _text_windows(tokenizer, _read_text(path), config, where=str(path))
    return _document_windows(tokenizer, _read_documents(path), config, where=str(path))


def _text_windows(tokenizer, text: str, config: CalibrationConfig, *, where: str) -> torch.LongTensor:
    """Random ``seqlen`` windows of one tokenized text (the reference's wikitext2 sampling)."""
    ids = tokenizer(text, return_tensors="pt").input_ids[0]
    if ids.numel() <= config.seqlen:
        raise CalibrationError(
            f"calibration text {where} has {ids.numel()} tokens; a window of seqlen={config.seqlen} "
            f"needs more: lower seqlen or give a longer text"
        )
    rng = random.Random(config.seed)
    starts = [rng.randint(0, ids.numel() - config.seqlen - 1) for _ in range(config.nsamples)]
    return torch.stack([ids[start : start + config.seqlen] for start in starts])


def _document_windows(tokenizer, documents, config: CalibrationConfig, *, where: str) -> torch.LongTensor:
    """The reference's C4 sampling: a random document with more than ``seqlen`` tokens, then a
    random window in it, ``nsamples`` times. A document has at most (UTF-8 bytes + a few
    special tokens) tokens, which rules out sources where no document can be long enough."""
    if not any(len(doc.encode("utf-8")) + 4 > config.seqlen for doc in documents):
        raise CalibrationError(
            f"no document in {where} can reach seqlen={config.seqlen} tokens: lower seqlen, or "
            "give a .txt file (one text cut into windows)"
        )
    rng = random.Random(config.seed)
    max_draws = 1000 * config.nsamples
    windows, draws = [], 0
    while len(windows) < config.nsamples:
        doc = documents[rng.randint(0, len(documents) - 1)]
        draws += 1
        ids = tokenizer(doc, return_tensors="pt").input_ids[0]
        if ids.numel() > config.seqlen:
            start = rng.randint(0, ids.numel() - config.seqlen - 1)
            windows.append(ids[start : start + config.seqlen])
        elif draws >= max_draws:
            raise CalibrationError(
                f"only {len(windows)} of {config.nsamples} documents longer than seqlen="
                f"{config.seqlen} tokens found in {draws} random draws from {where}: lower "
                "seqlen, or give a .txt file"
            )
    return torch.stack(windows)


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.name.lower().endswith(".gz") else open(path, encoding="utf-8")


def _read(path: Path) -> str:
    try:
        with _open(path) as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise CalibrationError(f"calibration file {str(path)!r} is not UTF-8 (byte {err.start}); convert it, e.g. "
                               "iconv -f latin1 -t utf-8") from None
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise CalibrationError(f"calibration file {str(path)!r} cannot be read ({err})") from None


def _read_text(path: Path) -> str:
    text = _read(path)
    if not text.strip():
        raise CalibrationError(f"calibration file {str(path)!r} is empty")
    return text


def _read_documents(path: Path) -> list[str]:
    """Texts of a JSON array / object-with-``text``-list, or of JSON lines, each with ``text``."""
    raw = _read(path)
    try:
        data = json.loads(raw)
        if isinstance(data, dict):  # {"text": [...]} or a file of one JSON line
            records = data["text"] if isinstance(data.get("text"), list) else [data]
        elif isinstance(data, list):
            records = data
        else:
            raise CalibrationError(
                f"calibration file {str(path)!r}: expected a JSON array of objects with a 'text' "
                "field, or JSON lines"
            )
    except json.JSONDecodeError:
        records = []
        for number, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise CalibrationError(
                        f"calibration file {str(path)!r}: line {number} is not JSON ({err.msg})"
                    ) from None
    texts = []
    for index, record in enumerate(records):
        text = record.get("text") if isinstance(record, dict) else record
        if not isinstance(text, str):
            raise CalibrationError(
                f"calibration file {str(path)!r}: record {index} has no string field 'text'"
            )
        texts.append(text)
    if not texts:
        raise CalibrationError(f"calibration file {str(path)!r} holds no documents")
    return texts


def _load_hub(*args, what: str, **kwargs):
    import datasets

    try:
        return datasets.load_dataset(*args, **kwargs)
    except Exception as err:  # offline, renamed, gated: the fix is the same
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise CalibrationError(f"could not load {what} from the hub ({reason}); {OFFLINE_FIX}") from None


class _HubDocuments:
    """Random access to the texts of a hub dataset without copying them into a list."""

    def __init__(self, dataset):
        self._dataset = dataset

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, index: int) -> str:
        return self._dataset[index]["text"]

    def __iter__(self):
        return (row["text"] for row in self._dataset)


def _hub_c4() -> _HubDocuments:
    dataset, shard = C4_HUB
    return _HubDocuments(
        _load_hub(dataset, data_files={"train": shard}, split="train", what=f"C4 ({dataset} {shard})")
    )


def _hub_wikitext2() -> str:
    dataset, name = WIKITEXT2_HUB
    return " ".join(_load_hub(dataset, name, split="train", what=f"WikiText-2 ({dataset})")["text"])

"""Split a bf16 safetensors checkpoint into pieces small enough for the device tool's 64 MiB
transfers, and join them back there, losslessly (the SHA-256 of the file is checked).

Why our own: the device machine has no registry and no hub, and a call carries at most 64 MiB,
while SmolLM2-135M's weights are 269 MB. The high byte of each bf16 value (sign, exponent, one
mantissa bit) is grouped and zstd-compressed (ZipNN's byte grouping, arXiv:2411.05239: 134.5 MB
to 47 MB); the low bytes are near-random and travel raw, cut into equal parts. Each part goes in
its own call while the machine stays warm.

    python -m bench.model_chunks split MODEL_DIR OUT_DIR --parts 3   # here
    python -m bench.model_chunks join CHUNK_DIRS... --output MODEL_DIR   # there
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import zstandard

WEIGHTS = "model.safetensors"


def split(model_dir: Path, out: Path, parts: int) -> None:
    raw = (model_dir / WEIGHTS).read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    body = np.frombuffer(raw, dtype=np.uint8, offset=8 + header_len)
    if body.size % 2:
        raise ValueError(f"{model_dir / WEIGHTS}: tensor data of odd length: not a 16-bit checkpoint")
    high, low = body[1::2].tobytes(), body[0::2].tobytes()
    first = out / "part0"
    first.mkdir(parents=True, exist_ok=True)
    (first / "high.zst").write_bytes(zstandard.ZstdCompressor(level=19, threads=-1).compress(high))
    (first / "header.bin").write_bytes(raw[: 8 + header_len])
    for extra in model_dir.iterdir():
        if extra.name != WEIGHTS and extra.is_file():
            shutil.copy(extra, first / extra.name)
    step = -(-len(low) // parts)
    for i in range(parts):
        folder = out / f"part{i + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"low{i}.bin").write_bytes(low[i * step:(i + 1) * step])
    (first / "manifest.json").write_text(json.dumps({"sha256": hashlib.sha256(raw).hexdigest(), "parts": parts}))


def join(chunks: list[Path], output: Path) -> None:
    files = {p.name: p for folder in chunks for p in folder.iterdir()}
    manifest = json.loads(files["manifest.json"].read_text())
    low = b"".join(files[f"low{i}.bin"].read_bytes() for i in range(manifest["parts"]))
    high = zstandard.ZstdDecompressor().decompress(files["high.zst"].read_bytes())
    body = np.empty(2 * len(low), dtype=np.uint8)
    body[0::2] = np.frombuffer(low, dtype=np.uint8)
    body[1::2] = np.frombuffer(high, dtype=np.uint8)
    raw = files["header.bin"].read_bytes() + body.tobytes()
    if hashlib.sha256(raw).hexdigest() != manifest["sha256"]:
        raise ValueError("joined checkpoint does not match the SHA-256 of the split one")
    output.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        if name not in ("manifest.json", "header.bin", "high.zst") and not name.startswith("low"):
            shutil.copy(path, output / name)
    (output / WEIGHTS).write_bytes(raw)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("model_dir", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--parts", type=int, default=3)
    j = sub.add_parser("join")
    j.add_argument("chunks", type=Path, nargs="+")
    j.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    if args.cmd == "split":
        split(args.model_dir, args.out, args.parts)
    else:
        join(args.chunks, args.output)


if __name__ == "__main__":
    main()

"""Cut a bf16 safetensors checkpoint (and any other folders) into pieces small enough for the
device tool's transfers, and put them back together there, losslessly (SHA-256 checked).

Why our own: the device machine has no registry and no hub, and one call carries at most
64 MiB together with the repository's tracked files (56 MB on 2026-12-05, with the second
sweep's samples and the quantization study's; a call refuses a larger tree: the pieces'
size follows from what the call's tree leaves room for, bench/device_sweep.sh), while SmolLM2-135M's weights are 269 MB. The high byte of each bf16 value (sign,
exponent, one mantissa bit) is grouped and zstd-compressed (ZipNN's byte grouping,
arXiv:2411.05239: 134.5 MB to 47 MB); the low bytes are near-random and travel raw. The
payload (safetensors header, high bytes, low bytes, then a tar of the other files and folders)
is cut into pieces of ``--piece-mb``; each piece goes in its own call while the machine stays
warm (bench/device_sweep.sh).

    python -m bench.model_chunks split MODEL_DIR OUT_DIR --piece-mb 6 [--with .whl ../shared/data]  # here
    python -m bench.model_chunks join OUT_DIR/piece-* --output MODEL_DIR [--extract-to DIR]        # there
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import tarfile
from pathlib import Path

import numpy as np
import zstandard

WEIGHTS = "model.safetensors"
MANIFEST = "manifest.json"


def split(model_dir: Path, out: Path, piece_mb: float, extra: list[Path] = ()) -> list[Path]:
    """Write ``out/piece-NNN`` files of at most ``piece_mb`` MB and ``out/manifest.json``."""
    raw = (model_dir / WEIGHTS).read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    body = np.frombuffer(raw, dtype=np.uint8, offset=8 + header_len)
    if body.size % 2:
        raise ValueError(f"{model_dir / WEIGHTS}: tensor data of odd length: not a 16-bit checkpoint")
    high = zstandard.ZstdCompressor(level=19, threads=-1).compress(body[1::2].tobytes())
    files = io.BytesIO()
    with tarfile.open(fileobj=files, mode="w") as tar:
        for path in model_dir.iterdir():
            if path.name != WEIGHTS and path.is_file():
                tar.add(path, arcname=f"model/{path.name}")
        for folder in extra:
            tar.add(folder, arcname=f"extra/{folder.name}")
    parts = {"header": raw[: 8 + header_len], "high": high, "low": body[0::2].tobytes(), "files": files.getvalue()}
    payload = b"".join(parts.values())
    out.mkdir(parents=True, exist_ok=True)
    step = int(piece_mb * 1e6)
    pieces = []
    for i in range(0, len(payload), step):
        pieces.append(out / f"piece-{i // step:03d}")
        pieces[-1].write_bytes(payload[i:i + step])
    manifest = {"sha256": hashlib.sha256(raw).hexdigest(), "sizes": {k: len(v) for k, v in parts.items()},
                "payload_sha256": hashlib.sha256(payload).hexdigest(), "pieces": len(pieces)}
    (out / MANIFEST).write_text(json.dumps(manifest))
    return pieces


def join(pieces: list[Path], output: Path, extract_to: Path | None = None) -> None:
    """Rebuild ``output/model.safetensors`` and the model's other files from the pieces (the
    manifest beside the first); the extra folders go under ``extract_to`` when given."""
    manifest = json.loads((pieces[0].parent / MANIFEST).read_text())
    pieces = sorted(pieces)
    if len(pieces) != manifest["pieces"]:
        raise ValueError(f"{len(pieces)} pieces given, the split made {manifest['pieces']}")
    payload = b"".join(p.read_bytes() for p in pieces)
    if hashlib.sha256(payload).hexdigest() != manifest["payload_sha256"]:
        raise ValueError("the pieces do not make the payload that was split (missing, reordered or damaged)")
    parts, start = {}, 0
    for name, size in manifest["sizes"].items():
        parts[name], start = payload[start:start + size], start + size
    high = zstandard.ZstdDecompressor().decompress(parts["high"])
    body = np.empty(2 * len(parts["low"]), dtype=np.uint8)
    body[0::2] = np.frombuffer(parts["low"], dtype=np.uint8)
    body[1::2] = np.frombuffer(high, dtype=np.uint8)
    raw = parts["header"] + body.tobytes()
    if hashlib.sha256(raw).hexdigest() != manifest["sha256"]:
        raise ValueError("joined checkpoint does not match the SHA-256 of the split one")
    output.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(parts["files"]), mode="r") as tar:
        for member in tar.getmembers():
            top, _, rest = member.name.partition("/")
            if top == "model" and member.isfile():
                (output / rest).write_bytes(tar.extractfile(member).read())
        if extract_to is not None:
            extra = [m for m in tar.getmembers() if m.name.startswith("extra/")]
            tar.extractall(extract_to, members=extra, filter="data")
    (output / WEIGHTS).write_bytes(raw)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("model_dir", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--piece-mb", type=float, default=28.0)
    s.add_argument("--with", dest="extra", type=Path, nargs="*", default=[], help="folders to carry along")
    j = sub.add_parser("join")
    j.add_argument("pieces", type=Path, nargs="+")
    j.add_argument("--output", type=Path, required=True)
    j.add_argument("--extract-to", type=Path, help="where the --with folders go (as extra/<name>)")
    args = parser.parse_args(argv)
    if args.cmd == "split":
        for piece in split(args.model_dir, args.out, args.piece_mb, args.extra):
            print(piece)
    else:
        join(args.pieces, args.output, args.extract_to)


if __name__ == "__main__":
    main()

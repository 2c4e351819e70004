#!/usr/bin/env bash
# Download (here, where PyPI is reachable) the wheels that the GPU device machine lacks, into
# .whl/ (git-ignored), for `run(carry=[".whl"], ...)`; the device image already has torch,
# transformers, accelerate, numpy, pandas, pyarrow, scikit-learn, sacrebleu, safetensors.
# On the device: python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PKGS=(
  lm-eval==0.4.13 datasets==5.2.0 llmcompressor==0.14.0.1 compressed-tensors==0.19.0
  dill multiprocess evaluate more-itertools pytablewriter dataproperty mbstrdecoder
  pathvalidate tabledata tcolorpy typepy chardet nltk loguru pydantic pydantic-core
  annotated-types typing-inspection zstandard lz4 brotli python-snappy cramjam auto-round
)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${PKGS[@]}"
# bitsandbytes (method=int8/nf4) ships a library for every CUDA release (43 MB); the device's torch
# is built for CUDA 13.0, so the wheel is repacked with that library and the CPU one (~5 MB),
# the others dropped from it and from its RECORD.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_24_x86_64 \
  -d /tmp/bnb-wheel bitsandbytes==0.50.2
python3 - /tmp/bnb-wheel/bitsandbytes-0.50.2-*.whl .whl <<'EOF'
import re, sys, zipfile
from pathlib import Path

src = Path(sys.argv[1])
other = re.compile(r"libbitsandbytes_(?!cpu\.so$|cuda130\.so$)")
with zipfile.ZipFile(src) as old, zipfile.ZipFile(Path(sys.argv[2]) / src.name, "w", zipfile.ZIP_DEFLATED) as new:
    for item in old.infolist():
        if other.search(item.filename):
            continue
        data = old.read(item)
        if item.filename.endswith(".dist-info/RECORD"):
            data = "".join(line for line in data.decode().splitlines(True) if not other.search(line.split(",")[0])).encode()
        new.writestr(item, data)
EOF
# Pure-Python packages published only as source, and the project itself, built into wheels here.
python3 -m pip wheel -q --no-deps -w .whl sqlitedict word2number rouge-score .
du -sh .whl

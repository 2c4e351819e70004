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
# Pure-Python packages published only as source, and the project itself, built into wheels here.
python3 -m pip wheel -q --no-deps -w .whl sqlitedict word2number rouge-score .
du -sh .whl

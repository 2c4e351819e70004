#!/usr/bin/env bash
# Issue 9's measurements on one H100 of the device machine (no registry, no hub there):
# run from the repository root, with the wheels of bench/fetch_device_wheels.sh and the assets
# of bench/stage_device_assets.py carried in .whl/. Each step writes <step>.json and <step>.log
# into $OUT (default bench/results-h100) and is cut at its own time limit, so one 10-minute
# device call returns whatever finished.
#
#   bash bench/device_h100.sh compress            # 1+2: compression time, ours vs llmcompressor
#   bash bench/device_h100.sh reload eval storage # 3, 4, 5 (eval and storage reuse reload's 7B folder)
#   bash bench/device_h100.sh gpu-tests           # the GPU-only tests (AWQ, bitsandbytes)
set -uo pipefail
OUT=${OUT:-bench/results-h100}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
TOK=.whl/bench_assets/tokenizer
SRC=/tmp/llama2-7b            # random-weight Llama-2-7B checkpoint, written once per machine
SRC2=/tmp/llama2-7b-2layers   # the same widths, 2 decoder layers (storage analysis)

step() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s): $*"
  timeout "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  echo "== $name: exit $?"
}

for what in "$@"; do
  case $what in
    compress) step compress_speed "${T_COMPRESS:-480}" python3 -m bench.compress_speed --preset h100 \
                --tokenizer "$TOK" --json "$OUT/compress_speed.json" ;;
    reload) step reload_speed "${T_RELOAD:-300}" python3 -m bench.reload_speed --preset h100 \
              --tokenizer "$TOK" --source-dir "$SRC" --json "$OUT/reload_speed.json" ;;
    eval) step eval_throughput "${T_EVAL:-240}" python3 -m bench.eval_throughput --preset h100 \
            --tokenizer "$TOK" --source-dir "$SRC" --data-dir .whl/bench_assets/data --json "$OUT/eval_throughput.json" ;;
    storage) python3 -m bench.models --shape llama2-7b --layers 2 --tokenizer "$TOK" "$SRC2" > /dev/null
             step storage_throughput "${T_STORAGE:-150}" python3 bench/storage_throughput.py "$SRC2" \
               --codecs zstd-3,lz4,snappy --json "$OUT/storage_throughput.json" ;;
    gpu-tests) step gpu_tests "${T_TESTS:-150}" python3 -m pytest -q -p no:cacheprovider -x \
                 tests/test_quant_awq.py tests/test_quant_kick.py -k "awq or int8 or nf4" ;;
    *) echo "unknown step $what: compress reload eval storage gpu-tests"; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# Issue 9's measurements on one H100 of the device machine (no registry, no hub there):
# run from the repository root, with the wheels of bench/fetch_device_wheels.sh and the assets
# of bench/stage_device_assets.py carried in .whl/. Each step writes <step>.json and <step>.log
# into $OUT (default bench/results-h100) and is cut at its own time limit, so one 10-minute
# device call returns whatever finished.
#
#   bash bench/device_h100.sh compress            # 1+2: compression time, ours vs llmcompressor
#   CASES=gptq-w4g128,sparsegpt-2:4 bash bench/device_h100.sh compress   # some cases only
#   bash bench/device_h100.sh reload eval storage # 3, 4, 5 (they share one random 7B folder)
#   RELOAD_CASES=sparsegpt bash bench/device_h100.sh reload   # a full 32-layer SparseGPT run, cached
#   EVAL_ARGS="--profile \$OUT/profile" bash bench/device_h100.sh eval   # + torch.profiler tables
# Compression runs report llmcompressor's phases (bench/phases.py: statistics, solve, forward...).
#   bash bench/device_h100.sh gpu-tests           # the GPU-only tests (AWQ, bitsandbytes, SparseGPT's CUDA graph)
#   bash bench/device_h100.sh scaling             # the 2-GPU kind (nvidia-h200-x2): 1 GPU vs 2
# The project's own wheel (in .whl/, from fetch_device_wheels.sh) registers `--model kick` and
# the kick tasks with the lm_eval command; the working tree comes first on the path.
set -uo pipefail
OUT=${OUT:-bench/results-h100}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
# .pth files are read only in site folders: make /tmp/site one, so that the project's
# llm_kick_lm_eval_bridge.pth registers --model kick and the kick tasks with lm_eval.
echo "import site; site.addsitedir('/tmp/site')" > "$(python3 -c 'import site; print(site.getsitepackages()[0])')/zz_tmp_site.pth"
TOK=.whl/bench_assets/tokenizer
SRC=/tmp/llama2-7b            # random-weight Llama-2-7B checkpoint, written once per machine
SRC2=/tmp/llama2-7b-2layers   # the same widths, 2 decoder layers (storage analysis)

# GPU clocks, power, temperature and load once a second for the whole call (throttling or a
# busy neighbour shows there), into $OUT/gpu_samples.csv
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu,memory.used \
    --format=csv -l 1 > "$OUT/gpu_samples.csv" 2> /dev/null &
  SAMPLER=$!
  trap 'kill $SAMPLER 2> /dev/null' EXIT
fi

step() {  # name, seconds, command...
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s): $*"
  timeout "$limit" "$@" > >(tee "$OUT/$name.log") 2>&1
  echo "== $name: exit $?"
}

for what in "$@"; do
  case $what in
    compress) step compress_speed "${T_COMPRESS:-480}" python3 -m bench.compress_speed --preset h100 --phases \
                ${CASES:+--cases "$CASES"} --tokenizer "$TOK" --json "$OUT/compress_speed.json" ;;
    reload) step reload_speed "${T_RELOAD:-300}" python3 -m bench.reload_speed --preset h100 --phases \
              ${RELOAD_CASES:+--cases "$RELOAD_CASES"} --tokenizer "$TOK" --source-dir "$SRC" \
              --json "$OUT/reload_speed.json" ;;
    eval) step eval_throughput "${T_EVAL:-300}" python3 -m bench.eval_throughput --preset h100 ${EVAL_ARGS:-} \
            --tokenizer "$TOK" --source-dir "$SRC" --data-dir .whl/bench_assets/data --json "$OUT/eval_throughput.json" ;;
    storage) # on 2 decoder layers of the 7B widths (the embedding, LM head and layer tensors of
             # the 7B, 1.6 GB): 1 (ours vs the bare codec, one core) and 2 (the full analysis on
             # one core and on all); the whole 13.8 GB folder did not finish part 2 in 110 s
             python3 -m bench.models --shape llama2-7b --layers 2 --tokenizer "$TOK" "$SRC2" > /dev/null
             for part in ${STORAGE_PARTS:-overhead scaling}; do
               step "storage_$part" "${T_STORAGE:-120}" python3 bench/storage_throughput.py "$SRC2" \
                 --codecs zstd-3,lz4 --parts "$part" --scaling-workers "1,$(nproc)" --json "$OUT/storage_$part.json"
             done ;;
    scaling) step eval_scaling "${T_SCALING:-540}" python3 -m bench.eval_scaling --preset h200x2 \
               --tokenizer "$TOK" --source-dir "$SRC" --data-dir .whl/bench_assets/data --json "$OUT/eval_scaling.json" ;;
    gpu-tests) step gpu_tests "${T_TESTS:-150}" python3 -m pytest -q -p no:cacheprovider -x \
                 tests/test_quant_awq.py tests/test_quant_kick.py tests/test_sparsegpt_solver.py \
                 -k "awq or int8 or nf4 or cuda_graph" ;;
    *) echo "unknown step $what: compress reload eval storage gpu-tests scaling"; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# The quality half of the quantization study (issue 20) on one GPU: every checkpoint of run.sh's
# storage grid (RTN 8/4/3 bits x per-tensor, per-channel, g32, g64, g192 x sym/asym; GPTQ 4/3
# bits x per-channel, g64 x sym/asym; bitsandbytes int8 and nf4) scored against dense with
# samples kept, so that kick report gives each a paired interval: factoid QA (the first 1,000
# questions: the power calculation in docs/sweep/power.md puts the 4-bit contrasts at 935 to
# 1,912), closed-book TriviaQA (956) and WikiText-2 perplexity (62 articles). Model float32 and
# calibration as docs/sweep/run_gpu.sh; --storage records each checkpoint's lossless size (quick codecs)
# in its results, which kick report puts the scores against.
#
#   MODEL=/path/to/SmolLM2-135M-Instruct KICK_DATA_DIR=/path/to/data bash docs/storage/quant_study/run_gpu.sh
#   (on the device machine: SCRIPT=docs/storage/quant_study/run_gpu.sh RESULTS=docs/storage/quant_study/results
#    bash bench/device_sweep.sh ..., as its header says)
set -euo pipefail
cd "$(dirname "$0")/../../.."
export KICK_DATA_DIR=${KICK_DATA_DIR:-$(cd ../shared/data && pwd)}
# one CPU thread per process: twelve processes of 16 threads each on 16 cores (2026-12-05, H100)
# kept the load average near 100 and the GPU 2% busy, a point taking ~6 min
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
OUT=${OUT_DIR:-docs/storage/quant_study/results}
MODEL=${MODEL:-$(kick smollm2)}
COMMON=(--model "$MODEL" --output "$OUT" --device "${DEVICE:-cuda}" --model-args dtype=float32
        --calibration builtin --nsamples 32 --seqlen 512 --samples slim --storage)
GROUPS_RTN=(--recipe-arg group_size=0,-1,32,64,192)
GROUPS_GPTQ=(--recipe-arg group_size=-1,64)

score() {
  kick sweep "${COMMON[@]}" "$@" --tasks kick_factoid_qa --limit 1000 --batch_size 128 \
    && kick sweep "${COMMON[@]}" "$@" --tasks kick_icrqa_closed --batch_size 128 \
    && kick sweep "${COMMON[@]}" "$@" --tasks kick_ppl --batch_size 1
}

# Dense (which every kick sweep adds) first, alone, so that the streams find it done; then one
# stream per bit width and grid for RTN (5 checkpoints each) and GPTQ (2 each), one for
# bitsandbytes, and the storage half of the GPTQ W3 checkpoints (run.sh gptq; the W4 ones are
# committed from the CPU; ZipNN has no wheel for the device's Python, so the fast codecs alone)
# into $OUT/storage, for analyze.py: 12 processes on the device's 16 cores.
{
  score --methods dense
  for bits in 8 4 3; do
    for sym in true false; do
      ( score --methods rtn --bits $bits "${GROUPS_RTN[@]}" --recipe-arg symmetric=$sym ) &
    done
  done
  for bits in 4 3; do
    for sym in true false; do
      ( score --methods gptq --bits $bits "${GROUPS_GPTQ[@]}" --recipe-arg symmetric=$sym ) &
    done
  done
  ( score --methods int8 nf4 ) &
  ( ONLY='gptq-w3-.*' STUDY_OUT="$OUT/storage" CODECS=${CODECS:-zstd-3,lz4} WORKERS=2 \
      bash docs/storage/quant_study/run.sh gptq ) &
  wait
}

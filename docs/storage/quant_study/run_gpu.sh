#!/usr/bin/env bash
# The quality half of the quantization study (issue 20) on one GPU: every checkpoint of run.sh's
# storage grid (RTN 8/4/3 bits x per-tensor, per-channel, g32, g64, g192 x sym/asym; GPTQ 4/3
# bits x per-channel, g64 x sym/asym; bitsandbytes int8 and nf4) scored against dense with
# samples kept, so that kick report gives each a paired interval: factoid QA (the first 1,000
# questions: the power calculation in docs/sweep/power.md puts the 4-bit contrasts at 935 to
# 1,912), closed-book TriviaQA (956) and WikiText-2 perplexity (62 articles). Model float32 and
# calibration as docs/sweep/run_gpu.sh; --storage records each checkpoint's lossless size (quick codecs)
# in its results, which kick report puts the scores against. Dense runs first, alone; then four streams.
#
#   MODEL=/path/to/SmolLM2-135M-Instruct KICK_DATA_DIR=/path/to/data bash docs/storage/quant_study/run_gpu.sh
#   (on the device machine: SCRIPT=docs/storage/quant_study/run_gpu.sh RESULTS=docs/storage/quant_study/results
#    bash bench/device_sweep.sh ..., as its header says)
set -euo pipefail
cd "$(dirname "$0")/../../.."
export KICK_DATA_DIR=${KICK_DATA_DIR:-$(cd ../shared/data && pwd)}
OUT=${OUT_DIR:-docs/storage/quant_study/results}
MODEL=${MODEL:-$(kick smollm2)}
COMMON=(--model "$MODEL" --output "$OUT" --device "${DEVICE:-cuda}" --model-args dtype=float32
        --calibration builtin --nsamples 32 --seqlen 512 --samples slim --storage)
RTN_GRID=(--recipe-arg group_size=0,-1,32,64,192 --recipe-arg symmetric=true,false)
GPTQ_GRID=(--bits 4 3 --recipe-arg group_size=-1,64 --recipe-arg symmetric=true,false)

score() {
  kick sweep "${COMMON[@]}" "$@" --tasks kick_factoid_qa --limit 1000 --batch_size 128 \
    && kick sweep "${COMMON[@]}" "$@" --tasks kick_icrqa_closed --batch_size 128 \
    && kick sweep "${COMMON[@]}" "$@" --tasks kick_ppl --batch_size 1
}

{
  score --methods dense
  ( score --methods rtn --bits 8 "${RTN_GRID[@]}" ) &
  ( score --methods rtn --bits 4 "${RTN_GRID[@]}" ) &
  ( score --methods rtn --bits 3 "${RTN_GRID[@]}" ) &
  # then the storage half of the GPTQ checkpoints (run.sh gptq; ZipNN has no wheel for the
  # device's Python, so the fast codecs alone) into $OUT/storage, for analyze.py
  ( score --methods gptq "${GPTQ_GRID[@]}" && score --methods int8 nf4 \
      && STUDY_OUT="$OUT/storage" CODECS=${CODECS:-zstd-3,lz4} bash docs/storage/quant_study/run.sh gptq ) &
  wait
}

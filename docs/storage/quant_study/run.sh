#!/usr/bin/env bash
# The storage half of the quantization study (issue 20; Mao et al. 2024, "On the
# Compressibility of Quantized LLMs"): how losslessly compressible SmolLM2-135M-Instruct's
# quantized weights are, per bit width, scale granularity, grid and method.
#
#   docs/storage/quant_study/run.sh [rtn|gptq|bnb|pruned|all]  (default all; resumable)
#   ONLY='gptq-w4-g64-sym' docs/storage/quant_study/run.sh gptq   (the labels matching a regex)
#   ONLY='gptq-w4-g-1-sym|gptq-w4-g64-sym' WORK=/tmp/qs_sym STUDY_OUT=/tmp/qs_sym/out \
#     docs/storage/quant_study/run.sh gptq      (then /tmp/qs_sym/out/gptq*.{json.gz,csv} copied here as
#                                                gptq-w4-sym*; the same with 'asym' for gptq-w4-asym*: the
#                                                committed GPTQ checkpoints, 2026-12-05, CPU)
#
# RTN: bits 8, 4, 3 x group_size 0 (per tensor), -1 (per channel), 32, 64, 192 x symmetric
# true/false (30 checkpoints, no calibration) plus dense; GPTQ: bits 4, 3 x group_size -1, 64 x
# symmetric true/false (8) on 32 x 512 tokens of the built-in calibration text; bitsandbytes:
# LLM.int8 (absmax int8 per row) and NF4 (blocks of 64, double-quantized absmax), as
# transformers saves them (2); pruned: magnitude, Wanda and SparseGPT at 30%, 50% and 2:4 (9, the
# pruned points of the frontier). Group sizes
# must divide 576 and 1536 (128 does not). Each checkpoint is built into the kick cache on
# first use; the analysis codes every byte with the fast codecs (CODECS; ANS, at ~30 MB/s
# decoding, would double the time and its sampled interval on a 110 MB checkpoint is wide: the
# order-0 entropy bound, measured on every byte, stands for entropy coders). Writes
# <part>.json.gz (the full `kick storage --json`, per tensor: ~40 MB plain) and
# <part>_totals.csv next to this script; the JSON and the resume journals go to $WORK
# (default /tmp/quant_study). Then: python docs/storage/quant_study/analyze.py
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=${STUDY_OUT:-docs/storage/quant_study}  # where <part>.json.gz and <part>_totals.csv go
WORK=${WORK:-/tmp/quant_study}
KICK=${KICK:-kick}
PART=${1:-all}
S=${MODEL:-$($KICK smollm2)}  # the device machine names its copy (bench/device_sweep.sh)
CAL=calibration=builtin,nsamples=32,seqlen=512
CODECS=${CODECS:-zstd-3,lz4,zipnn}
STORAGE=(--codecs "$CODECS" --workers "${WORKERS:-1}" --quiet)

rtn=("dense=$S")
for bits in 8 4 3; do
  for group in 0 -1 32 64 192; do
    for sym in true false; do
      rtn+=("rtn-w${bits}-g${group}-$([ $sym = true ] && echo sym || echo asym)=kick:pretrained=$S,method=rtn,bits=$bits,group_size=$group,symmetric=$sym")
    done
  done
done
gptq=()
for bits in 4 3; do
  for group in -1 64; do
    for sym in true false; do
      gptq+=("gptq-w${bits}-g${group}-$([ $sym = true ] && echo sym || echo asym)=kick:pretrained=$S,method=gptq,bits=$bits,group_size=$group,symmetric=$sym,$CAL")
    done
  done
done

bnb=("int8=kick:pretrained=$S,method=int8" "nf4=kick:pretrained=$S,method=nf4")
# the pruned points of the frontier (frontier.py): docs/sweep's grid, the same calibration
pruned=()
for method in magnitude wanda sparsegpt; do
  cal=$([ $method = magnitude ] || echo ",$CAL")
  for shape in sparsity=0.3 sparsity=0.5 pattern=2:4; do
    pruned+=("$method-${shape#*=}=kick:pretrained=$S,method=$method,$shape$cal")
  done
done

run() {  # part name, then the checkpoints
  local part=$1; shift
  if [ -n "${ONLY:-}" ]; then
    local kept=() spec
    for spec in "$@"; do [[ ${spec%%=*} =~ ^($ONLY)$ ]] && kept+=("$spec"); done
    [ ${#kept[@]} -gt 0 ] || { echo "run.sh: ONLY='$ONLY' matches no $part checkpoint" >&2; exit 2; }
    set -- "${kept[@]}"
  fi
  mkdir -p "$HERE"
  $KICK storage "$@" "${STORAGE[@]}" --out "$WORK/$part" --json "$WORK/$part.json" --csv "$HERE/${part}_totals.csv"
  gzip -9 -n -c "$WORK/$part.json" > "$HERE/$part.json.gz.partial" && mv "$HERE/$part.json.gz.partial" "$HERE/$part.json.gz"
}
case $PART in
  rtn) run rtn "${rtn[@]}" ;;
  gptq) run gptq "${gptq[@]}" ;;
  bnb) run bnb "${bnb[@]}" ;;
  pruned) run pruned "${pruned[@]}" ;;
  all) run rtn "${rtn[@]}"; run gptq "${gptq[@]}"; run bnb "${bnb[@]}"; run pruned "${pruned[@]}" ;;
  *) echo "run.sh: unknown part '$PART': give rtn, gptq, bnb, pruned or all" >&2; exit 2 ;;
esac

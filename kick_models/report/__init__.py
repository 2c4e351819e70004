"""``kick report``: from a folder of lm-eval result files to the picture LLM-KICK draws.

For each model and task: the score of every compressed run relative to the dense run, against
sparsity (Jaiswal et al., "Compressing LLMs: The Truth is Rarely Pure and Never Simple",
ICLR 2024), bits and size on disk (Mao et al., "On the Compressibility of Quantized Large
Language Models", 2024), with the line 5% below dense.

Every ratio has an interval (paired over examples where lm-eval logged samples) and a
three-way verdict against the tolerance: within, below, or undecided.

Modules, one job each: :mod:`.results` reads result files into runs, :mod:`.samples` their
per-example samples and pairs two runs' examples, :mod:`.metrics` picks a task's headline
metric and the ratio to dense, :mod:`.comparable` says whether two runs were measured alike,
:mod:`.stats` (intervals, tests, sample sizes) and :mod:`.uncertainty` (a ratio's interval and
verdict), :mod:`.compare` pairs runs with their dense baseline and collects issues,
:mod:`.tables` (Markdown, CSV), :mod:`.plots` (matplotlib), :mod:`.summary` (Markdown for a
leaderboard or pull request), :mod:`.writer` (the output folder) and :mod:`.cli`
(``kick report``). Why our own code: lm-eval writes one JSON per run and has no cross-run
comparison; pandas is not a dependency and the tables are small; the statistics are scipy's.
"""

from kick_models.report.compare import Issue, Report, Row, build_report
from kick_models.report.metrics import MetricChoice, choose_metric, ratio_to_dense
from kick_models.report.results import Run, load_runs, read_run

__all__ = ["Issue", "MetricChoice", "Report", "Row", "Run", "build_report", "choose_metric", "load_runs",
           "ratio_to_dense", "read_run"]

"""Speed benchmarks of llm-kick (project issue 9): where the time of a compression study goes.

Each script measures one thing, prints a table and writes JSON (``--json``); ``--smoke`` runs
it on a tiny random Llama in seconds (``bench/tests/test_smoke.py``), ``--preset cpu`` on the
small real model SmolLM2-135M-Instruct, ``--preset h100`` on a Llama-2-7B-shaped model with
random weights (speed does not depend on the values) sized to fit one 10-minute device call.
Run them from the repository root as modules::

    python -m bench.compress_speed   # 1+2: compression wall time and peak memory, ours vs llmcompressor direct
    python -m bench.reload_speed     # 3: first --model kick run (compresses) vs cached reload, disk bandwidth
    python -m bench.eval_throughput  # 4: kick tasks vs lm-eval's built-in triviaqa/mmlu, prompts/s, tokens/s
    python -m bench.storage_throughput  # 5: storage analysis vs the bare codecs (also runs as a script)

``bench/RESULTS.md`` records every figure with its command and machine, and the device
commands that measure the GPU targets.
"""

"""Pruning engines: one module per method (``magnitude``, ``wanda``, ``sparsegpt``), each with
``prune(model, linears, recipe, calibration, *, device, progress) -> dict``; ``targets`` picks
the ``Linear`` modules a recipe prunes and ``masks`` holds the shared mask selection."""

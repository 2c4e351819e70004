"""Infrastructure shared by every other llm-kick package: the bottom layer.

* :mod:`.atomic` – files and folders written atomically (temporary sibling, fsync, rename);
* :mod:`.digests` – SHA-256 of files, remembered per version of a file;
* :mod:`.names` – file-system-safe slugs and model names;
* :mod:`.values` – text from command lines and environment variables cast to values;
* :mod:`.paths` – where llm-kick keeps its caches;
* :mod:`.versions` – versions of the libraries that determine a result (provenance records).

Nothing here imports torch, lm-eval or another llm-kick package (the layering contract in
``pyproject.toml`` checks it), so any layer may use it.
"""

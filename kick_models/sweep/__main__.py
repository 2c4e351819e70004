"""``python -m kick_models.sweep``: the same as ``kick sweep``."""

from kick_models.sweep.cli import main

raise SystemExit(main())

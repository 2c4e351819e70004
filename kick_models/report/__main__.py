"""``python -m kick_models.report`` = ``kick report``."""

from kick_models.report.cli import main

raise SystemExit(main())

"""``python -m compressors.storage``: see :mod:`compressors.storage.cli`."""

from compressors.storage.cli import main

raise SystemExit(main())

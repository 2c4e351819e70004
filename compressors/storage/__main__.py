"""``python -m compressors.storage``: ``kick storage`` for folders and ``.safetensors`` files
(``kick:<model_args>`` specs need ``kick storage``); see :mod:`compressors.storage.cli`."""

from compressors.storage.cli import main

raise SystemExit(main())

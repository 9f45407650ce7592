"""``python -m terminal``: the same as the ``parley`` console script."""

from terminal.cli import main

raise SystemExit(main())

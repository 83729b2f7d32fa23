"""``python -m ecgviewer`` is the same as the ``ecgviewer`` command."""

from ecgviewer.cli import main

raise SystemExit(main())

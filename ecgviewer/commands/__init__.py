"""Headless subcommands of the ``ecgviewer`` command (see :mod:`ecgviewer.cli`)."""

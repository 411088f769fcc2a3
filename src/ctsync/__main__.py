"""``python -m ctsync``: the same as the ``ctsync`` command."""

from __future__ import annotations

from ctsync.cli import main

main()

"""``python -m dknet.cli`` (and ``torchrun -m dknet.cli train ...``): the ``dknet`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    main()

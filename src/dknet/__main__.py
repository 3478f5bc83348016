"""``python -m dknet`` runs the command-line interface."""

from dknet.cli import main

if __name__ == "__main__":
    main()

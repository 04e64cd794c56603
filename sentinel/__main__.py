"""``python -m sentinel`` runs the command line."""

from sentinel.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

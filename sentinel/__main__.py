"""``python -m sentinel`` runs the command line."""

from sentinel.cli import main

# The capture worker is started with multiprocessing's "spawn", which imports this module
# again in the child: only the real entry point may run the command line.
if __name__ == "__main__":
    raise SystemExit(main())

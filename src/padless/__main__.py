"""``python -m padless`` runs the command-line interface."""

from padless.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

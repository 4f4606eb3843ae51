"""``python -m challenger.cli``: the command line."""

from challenger.cli import main

if __name__ == "__main__":
    main()

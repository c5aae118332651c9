"""`python -m autograder`: see autograder/cli.py."""

from autograder import cli

raise SystemExit(cli.main())

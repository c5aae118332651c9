"""`python -m autograder`: see autograder/cli.py."""

import sys

# nbformat imports jsonschema, whose optional IRI format checker (rfc3987-syntax) builds a lark grammar at
# import time: about a second at every start. nbformat never checks formats, so this program goes without it.
sys.modules.setdefault("rfc3987_syntax", None)

from autograder import cli  # noqa: E402 (after the line above, which must come first)

raise SystemExit(cli.main())

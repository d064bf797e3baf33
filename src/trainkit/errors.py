"""User-facing errors: a short message that names the problem and the fix, no traceback."""

import sys
from typing import NoReturn


class TrainkitError(Exception):
    """A mistake in config, data or checkpoint that the user can fix; shown without a traceback."""


def exit_with(error: BaseException) -> NoReturn:
    """Show a user's mistake as one `Error: ...` line on stderr and exit with code 2."""
    print(f"Error: {error}", file=sys.stderr)
    sys.exit(2)

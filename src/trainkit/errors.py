"""User-facing errors: a short message that names the problem and the fix, no traceback."""


class TrainkitError(Exception):
    """A mistake in config, data or checkpoint that the user can fix; shown without a traceback."""

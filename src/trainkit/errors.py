"""User-facing errors: a short message that names the problem and the fix, no traceback."""

from __future__ import annotations

import sys
from typing import NoReturn


class TrainkitError(Exception):
    """A mistake in config, data or checkpoint that the user can fix; shown without a traceback."""


def exit_with(error: BaseException) -> NoReturn:
    """Show a user's mistake as one `Error: ...` line on stderr and exit with code 2."""
    print(f"Error: {error}", file=sys.stderr)
    sys.exit(2)


def user_error(exc: BaseException) -> TrainkitError | None:
    """The user-facing error behind `exc`, if it is one: a TrainkitError anywhere in the chain
    (Hydra wraps errors raised in constructors), or a class the config names that cannot be
    created (a wrong `_target_`, an argument the class does not take)."""
    from hydra.errors import InstantiationException
    from omegaconf.errors import MissingMandatoryValue

    found = trainkit_error_in(exc)
    if found is not None:
        return found
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, MissingMandatoryValue):
            key = getattr(item, "full_key", "") or "a key marked ???"
            return TrainkitError(f"{key} must be set: add {key}=... to the command line.")
        if isinstance(item, InstantiationException):
            text = " ".join(line.strip() for line in str(item).splitlines() if line.strip())
            text = text.replace(", set env var HYDRA_FULL_ERROR=1 to see chained exception", "")
            return TrainkitError(
                f"Could not create an object the config names: {text}. Check its _target_ and "
                "arguments (HYDRA_FULL_ERROR=1 shows the traceback)."
            )
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it was raised from or during."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def trainkit_error_in(exc: BaseException) -> TrainkitError | None:
    """The TrainkitError anywhere in `exc`'s chain (Hydra and OmegaConf wrap them)."""
    return next((e for e in _chain(exc) if isinstance(e, TrainkitError)), None)

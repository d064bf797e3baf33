"""User-facing errors: a short message that names the problem and the fix, no traceback."""

from __future__ import annotations

import errno
import sys
from typing import NoReturn


class TrainkitError(Exception):
    """A mistake in config, data or checkpoint that the user can fix; shown without a traceback."""


class LabelError(TrainkitError):
    """Class labels the task cannot take (outside 0..C-1): the doctor's labels_out_of_range."""


class ForeignRunError(TrainkitError):
    """A refusal about a run directory that belongs to another run (in use, or not ours to
    change): nothing may be written there, not even a summary.json of this failed attempt."""


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

    found = trainkit_error_in(exc) or machine_error(exc)
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


# What the machine refused, in plain words, and the way out.
MACHINE_FAULTS = {
    errno.ENOSPC: "the disk is full (no space left on device): free some space, or write runs "
    "to another disk (hydra.run.dir=... or paths.log_dir=...)",
    errno.EDQUOT: "the disk quota is used up: free some space, or write runs elsewhere "
    "(hydra.run.dir=... or paths.log_dir=...)",
    errno.EROFS: "it is on a read-only file system: use a writable place (hydra.run.dir=...)",
    errno.EACCES: "permission denied: make it readable and writable for you (chmod), or use "
    "another path",
    errno.EPERM: "the operation is not permitted: check its owner and permissions",
    errno.EIO: "input/output error: the disk or network file system failed; check it and run again",
}


class MachineFault(TrainkitError):
    """A file operation the machine refused (full disk, read-only, permissions)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.errno = code


def machine_error(exc: BaseException) -> MachineFault | None:
    """A full disk, read-only file system or missing permission anywhere in `exc`'s chain, as
    one sentence naming the file; torch reports a failed checkpoint write as a RuntimeError."""
    for item in _chain(exc):
        code = getattr(item, "errno", None)
        if isinstance(item, OSError) and code in MACHINE_FAULTS:
            where = item.filename or "a file"
            return MachineFault(f"Cannot use {where}: {MACHINE_FAULTS[code]}.", code)
        if isinstance(item, RuntimeError) and "file write failed" in str(item):
            return MachineFault(
                "Writing a checkpoint failed (the disk is full or the file system refused the "
                "write): free some space or write runs elsewhere (hydra.run.dir=...).",
                errno.EIO,
            )
    return None

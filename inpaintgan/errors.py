"""The one error family of the package, and the one wrapper that turns it into the outcome
of a command.

Every mistake a user can fix (a wrong option, a missing data set, a file that is not a
checkpoint, a full disk) is a :class:`UserError`: its message is one line naming what is
wrong. A command (``python -m inpaintgan.<name>``) runs its body through :func:`run_command`,
which prints ``inpaintgan.<name>: error: <the line>`` on stderr and exits with the error's
``exit_code`` (2) instead of a traceback. Anything else is a bug and keeps its traceback.

The kinds: :class:`UsageError` (the command line), :class:`DataError` (data sets, image and
mask files: :class:`ImageLoadError`, :class:`InputError`), :class:`CheckpointError`,
:class:`WriteError` (an output that cannot be written), :class:`ReportError` (evaluation runs
to tabulate) and :class:`NonFiniteLossError` (a training that diverged).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from inpaintgan import console

__all__ = [
    "CheckpointError",
    "DataError",
    "ImageLoadError",
    "InputError",
    "NonFiniteLossError",
    "ReportError",
    "UsageError",
    "UserError",
    "WriteError",
    "find_user_error",
    "log_to_files",
    "run_command",
    "write_failure_cause",
]

T = TypeVar("T")

LOW_SPACE_BYTES = 64 * 2**20
"""Below this much free space, a write that failed without an OS error is put down to a
full disk (torch.save reports ENOSPC as a bare ``RuntimeError``)."""


class UserError(Exception):
    """A mistake in the user's config or inputs: reported as one line, exit code 2."""

    exit_code: int = 2


class UsageError(UserError, ValueError):
    """A user mistake in the command line (a missing or contradictory option, a device this
    machine lacks); reported as one line, exit code 2."""


class DataError(UserError, ValueError):
    """Bad data configuration (missing root or split file, empty folder): a one-line message
    naming the path and the layout expected."""


class ImageLoadError(DataError):
    """A file that cannot be used as an image; the message is one line naming the file."""


class InputError(DataError):
    """One input that cannot be inpainted; the message is one line naming the file."""


class CheckpointError(UserError, ValueError):
    """A file that is not a readable inpaintgan checkpoint; the message is one line."""


class ReportError(UserError, ValueError):
    """Evaluation runs that cannot be tabulated (none found, an unreadable metrics.json)."""


class NonFiniteLossError(UserError, RuntimeError):
    """Raised after too many consecutive batches with a non-finite loss or gradient."""


class WriteError(UserError):
    """A file could not be written (no space, read-only, permission); one line naming the
    path and the cause. Nothing partial is left behind and the previous file is intact."""

    def __init__(self, path: str | os.PathLike, cause: str) -> None:
        self.path, self.cause = Path(path), cause
        super().__init__(f"cannot write {path}: {cause}")


def write_failure_cause(err: BaseException, folder: Path) -> str:
    """The cause of a failed write in words: the OS error, or a full disk when the error
    hides it (torch's ``RuntimeError ... unexpected pos``), else the error's first line."""
    if isinstance(err, OSError) and err.errno is not None:
        name = errno.errorcode.get(err.errno, str(err.errno))
        return f"{os.strerror(err.errno)} ({name})"
    try:
        if shutil.disk_usage(folder).free < LOW_SPACE_BYTES:
            return f"{os.strerror(errno.ENOSPC)} (ENOSPC)"
    except OSError:
        pass
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def find_user_error(
    err: BaseException, also: tuple[type[BaseException], ...] = ()
) -> BaseException | None:
    """The user-facing cause of ``err``: the first :class:`UserError` (or ``also`` type) in
    its ``__cause__`` chain (Hydra wraps errors raised while instantiating), else None."""
    kinds = (UserError, *also)
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, kinds):
            return seen
        seen = seen.__cause__
    return None


def log_to_files(message: str, logger: str = "inpaintgan") -> None:
    """Write ``message`` as an ERROR record to the file handlers only (a run's log file):
    the console gets the one ``error:`` line, not a second copy."""
    log = logging.getLogger(logger)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
            handler.flush()


def one_line(err: BaseException) -> str:
    """The first line of ``err``'s message (its repr when the message is empty).

    An error re-raised by a DataLoader worker (``Caught DataError in DataLoader worker
    process 0.`` followed by the worker's traceback) gives the original message instead:
    the last line of that traceback, without its ``module.Class:`` prefix.
    """
    text = str(err).strip()
    if not text:
        return repr(err)
    lines = text.splitlines()
    if lines[0].startswith("Caught ") and "worker" in lines[0] and len(lines) > 1:
        last = next((line for line in reversed(lines) if line.strip()), lines[0])
        head, sep, message = last.partition(": ")
        if sep and " " not in head.strip():
            return message.strip()
        return last.strip()
    return lines[0]


def run_command(
    command: str,
    body: Callable[..., T],
    *args: Any,
    also: tuple[type[BaseException], ...] = (),
    writes_to: str | os.PathLike | None = None,
    write_exit_code: int = 2,
    log: bool = False,
    **kwargs: Any,
) -> T:
    """``body(*args, **kwargs)``, with a user error turned into the command's outcome.

    A :class:`UserError` (or an ``also`` type) raised by ``body``, or found in the cause
    chain of what it raised, prints ``inpaintgan.<command>: error: <one line>`` on stderr
    and exits with the error's ``exit_code`` (2). With ``writes_to``, an ``OSError`` is a
    failed write there: ``cannot write <file>: <cause>``, exit ``write_exit_code``. With
    ``log``, the line also goes to the run's log file. Other errors propagate unchanged.
    """
    console.install()  # third-party noise filtered at one place: inpaintgan/console.py
    try:
        return body(*args, **kwargs)
    except Exception as err:
        cause = find_user_error(err, also)
        exit_code = getattr(cause, "exit_code", 2)
        if cause is None and writes_to is not None and isinstance(err, OSError):
            where = err.filename or writes_to
            cause = WriteError(where, write_failure_cause(err, Path(writes_to)))
            exit_code = write_exit_code
        if cause is None:
            raise
        message = one_line(cause)
        if log:
            log_to_files(f"error: {message}")
        print(f"inpaintgan.{command}: error: {message}", file=sys.stderr)
        sys.exit(exit_code)

"""File writing that a killed run or a full disk cannot leave half-written."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import torch
from hydra.experimental.callback import Callback
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig

LOW_SPACE_BYTES = 64 * 2**20
"""Below this much free space, a write that failed without an OS error is put down to a
full disk (torch.save reports ENOSPC as a bare ``RuntimeError``)."""


class WriteError(Exception):
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


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``.<name>.tmp`` beside ``path``, fsync, then rename over ``path``.

    A rename within one file system is atomic, so ``path`` is always either its previous
    complete content or the new one. On failure the temporary file is removed and a
    one-line :class:`WriteError` names ``path`` and the cause.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        cause = write_failure_cause(err, path.parent if path.parent.exists() else Path("."))
        raise WriteError(path, cause) from err
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save checkpoints with :func:`atomic_torch_save`: `last.ckpt` is always either the
    previous complete checkpoint or the new complete one, never a truncated file, and a
    failed save (disk full, read-only) is one :class:`WriteError` line."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        atomic_torch_save(checkpoint, path)


def check_writable_folder(path: str | os.PathLike) -> None:
    """Create ``path`` (and parents) and write + remove a probe file in it, or raise a
    one-line :class:`WriteError` (read-only mount, permission, a file in the way, full disk)."""
    folder = Path(path)
    probe = folder / f".inpaintgan-write-probe-{uuid.uuid4().hex[:8]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
    except OSError as err:
        raise WriteError(folder, write_failure_cause(err, Path("."))) from err
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


class OutputFolderCheck(Callback):
    """Hydra callback (``hydra.callbacks``): before a run or sweep starts, make sure its folder
    can be written; if not, one line naming it and the cause, and exit code 1 (instead of
    Hydra's traceback from its own ``mkdir``)."""

    def _check(self, folder: Any) -> None:
        try:
            check_writable_folder(str(folder))
        except WriteError as err:
            print(f"inpaintgan: error: run folder: {err}", file=sys.stderr)
            sys.exit(1)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Single run: ``hydra.run.dir`` (evaluate: its ``out``)."""
        self._check(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Multirun: ``hydra.sweep.dir``."""
        self._check(config.hydra.sweep.dir)

"""File writing that a killed run or a full disk cannot leave half-written."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import torch
from hydra.experimental.callback import Callback
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig

from inpaintgan.errors import UsageError, WriteError, write_failure_cause

__all__ = [
    "AtomicCheckpointIO",
    "OutputFolderCheck",
    "WriteError",
    "atomic_file",
    "atomic_path",
    "atomic_torch_save",
    "check_outputs",
    "check_writable_folder",
    "same_path",
    "write_atomically",
    "write_failure_cause",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """The one atomic writer: the block writes the temporary file ``.<name>.tmp`` beside
    ``path`` (its folder created); when the block ends, fsync, then rename over ``path``.

    A rename within one file system is atomic, so ``path`` is always either its previous
    complete content or the new one. Whatever the block raises (a full disk, Ctrl-C) leaves
    no temporary file and ``path`` untouched, and propagates unchanged. For writers that
    want a handle, :func:`atomic_file`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        descriptor = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(tmp, path)
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """:func:`atomic_path` with a binary handle on the temporary file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle


def write_atomically(
    path: str | os.PathLike,
    write: Callable[[Path], None],
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> None:
    """``write(tmp)`` through :func:`atomic_path`; a failure of one of ``errors`` is one
    :class:`WriteError` line naming ``path`` and the cause (the previous file intact, no
    temporary file)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            write(tmp)
    except errors as err:
        cause = write_failure_cause(err, path.parent if path.parent.exists() else Path("."))
        raise WriteError(path, cause) from err


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through :func:`write_atomically` (torch reports a full disk as a
    RuntimeError, so that counts as a write failure too)."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)

    write_atomically(path, save, (OSError, RuntimeError))


RESULT_FILES = ("metrics.json", "per_image.csv")
"""What an evaluation writes into its ``out`` folder (:class:`OutputFolderCheck` refuses a
folder that holds them without ``overwrite=true``)."""


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (through links and other spellings; for paths that
    do not exist yet, their resolved absolute forms compared case-insensitively, which
    refuses more on a case-sensitive file system, never less on macOS/Windows)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return str(a.resolve()).casefold() == str(b.resolve()).casefold()


def check_outputs(
    outputs: Sequence[tuple[str, str | os.PathLike]],
    inputs: Iterable[str | os.PathLike] = (),
    overwrite: bool = False,
    key: str = "out",
) -> None:
    """The one rule of every writer, checked before anything is written: raises a one-line
    :class:`UsageError` (exit 2) when

    - two sources map to one output (``a.jpg`` and ``a_jpg.png`` → ``a_jpg.png``), naming
      both;
    - an output is one of the ``inputs`` (a checkpoint, a metrics.json, a photo): refused
      even with ``overwrite``;
    - an output already exists, i.e. this run did not create it, unless ``overwrite``
      (the first is named, with how many more).

    ``outputs`` pairs what each file is written from (a label, e.g. the input image) with
    its path; ``key`` is the option the user sets (``out``, ``output``).
    """
    seen: dict[str, tuple[str, Path]] = {}
    for source, output in outputs:
        output = Path(output)
        folded = str(output.resolve()).casefold()
        if folded in seen:
            first, first_output = seen[folded]
            raise UsageError(
                f"{first} and {source} would both be written to {first_output}: rename one "
                "of them (nothing was written)"
            )
        seen[folded] = (source, output)
    originals = [Path(p) for p in inputs]
    for _source, output in seen.values():
        for original in originals:
            if same_path(output, original):
                raise UsageError(
                    f"{key}={output} is the input {original}: writing would replace it; "
                    f"give another {key} (overwrite=true never replaces an input)"
                )
    existing = [output for _source, output in seen.values() if os.path.lexists(output)]
    folders = [output for output in existing if output.is_dir()]
    if folders:
        raise UsageError(f"{key}: {folders[0]} is a folder, not a file this command can write")
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise UsageError(
            f"{existing[0]}{more} already exist(s) and were not written by this run: pass "
            f"overwrite=true to replace, or give another {key}"
        )


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
        """Single run: ``hydra.run.dir`` (evaluate: its ``out``). A folder holding the
        results of an earlier run (:data:`RESULT_FILES`) is refused without
        ``overwrite=true`` (exit 2) before Hydra writes its own files into it."""
        folder = Path(str(config.hydra.run.dir))
        earlier = [folder / name for name in RESULT_FILES if (folder / name).exists()]
        if earlier and not config.get("overwrite", False):
            command = config.get("task_name") or "run"
            print(
                f"inpaintgan.{command}: error: {earlier[0]} of an earlier run is there: pass "
                "overwrite=true to replace it, or give another out",
                file=sys.stderr,
            )
            sys.exit(2)
        self._check(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Multirun: ``hydra.sweep.dir``."""
        self._check(config.hydra.sweep.dir)

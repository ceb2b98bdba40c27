"""Lock files that keep two processes from training, or resuming, one run at once.

A run holds ``<run folder>/.running.lock`` (``<pid> <host>``) while it trains; a resume also
takes a lock beside the checkpoint it continues (per W&B run id when it has one), so a second
resume of it, or a resume of a run still training, is told who holds it
(:func:`claim_run`). A lock of a process that is gone is stale and taken over.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["RUN_LOCK", "claim_run", "take_lock"]

RUN_LOCK = ".running.lock"
"""In a run folder while its training runs: ``<pid> <host>``."""


def _lock_holder(path: Path) -> str | None:
    """Who holds lock file ``path`` ("process P on H"), or None when nobody alive does (a
    process on another host is taken to be alive)."""
    try:
        pid_text, _, host = path.read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    host = host.strip()
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return f"process {pid} on {host}"


def take_lock(path: Path) -> str | None:
    """Create lock file ``path`` for this process (a stale one is replaced); returns who
    holds it when a live process does, else None (also when the folder is not writable)."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder:
                return holder
            path.unlink(missing_ok=True)
            continue
        except OSError:
            return None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        return None
    return None


def claim_run(
    output_dir: str | Path, ckpt: str | None, wandb_run_id: str | None = None
) -> tuple[list[Path], str | None]:
    """The lock files this run holds (released when it ends) and, when ``ckpt`` is in
    use by a running process (the run writing it, or another resume of it or, with
    ``wandb_run_id``, of any checkpoint of that W&B run in its folder), who uses it.

    Only the first process of a run takes locks (DDP ranks re-run this function)."""
    if int(os.environ.get("LOCAL_RANK", 0) or 0) or int(os.environ.get("NODE_RANK", 0) or 0):
        return [], None
    held = []
    own = Path(output_dir) / RUN_LOCK
    own.parent.mkdir(parents=True, exist_ok=True)
    if take_lock(own) is None and own.is_file():
        held.append(own)
    if not ckpt:
        return held, None
    resumed = Path(ckpt).resolve()
    writer = resumed.parent.parent / RUN_LOCK  # <run>/checkpoints/last.ckpt
    if writer.resolve() != own.resolve():
        holder = _lock_holder(writer) if writer.is_file() else None
        if holder:
            return held, f"{holder} is still training the run that writes it ({writer})"
    key = f"wandb-{wandb_run_id}" if wandb_run_id else resumed.name
    lock = resumed.with_name(f".{key}.resumed.lock")
    holder = take_lock(lock)
    if holder:
        return held, f"{holder} is resuming it already ({lock})"
    if lock.is_file():
        held.append(lock)
    return held, None

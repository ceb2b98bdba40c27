"""The process a training run lives in: DDP launches, multirun jobs and exit codes.

Lightning's DDP launcher leaves environment variables behind in the launching process
(:func:`forget_ddp_launch` undoes them, so the next job of a multirun launches its own) and
starts extra ranks by re-running ``sys.argv`` (:func:`pin_ddp_children_to_this_job` points
them at this job's folder). :func:`interrupt_exit_code` turns a stop by a signal into the
shell's exit status (130 after Ctrl-C, 143 after SIGTERM).
"""

from __future__ import annotations

import os
import sys

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write
from pytorch_lightning.utilities.exceptions import SIGTERMException

from inpaintgan.callbacks import SaveOnInterrupt

__all__ = [
    "DDP_LAUNCHER_ENV",
    "forget_ddp_launch",
    "interrupt_exit_code",
    "pin_ddp_children_to_this_job",
]

# Set by Lightning's DDP launcher in the launching process itself; left behind, they make the
# next job of a multirun believe its ranks were started externally (and wait for them).
DDP_LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def forget_ddp_launch(launcher_env: dict[str, str | None]) -> None:
    """Undo a finished DDP launch so the next job in this process can launch its own."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for key, value in launcher_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def interrupt_exit_code(trainer: pl.Trainer, stop: SystemExit) -> int | None:
    """130 after Ctrl-C, 143 after SIGTERM (:class:`SaveOnInterrupt` knows which); None for
    an exit that no signal caused."""
    for callback in trainer.callbacks:
        if isinstance(callback, SaveOnInterrupt) and callback.signal:
            return callback.exit_code
    return 143 if isinstance(stop, SIGTERMException) else None


def pin_ddp_children_to_this_job() -> None:
    """In a multirun, make Lightning's DDP child processes join this job's folder.

    Lightning starts each extra rank by re-running ``sys.argv`` as a single run with
    ``hydra.run.dir`` set from this process's Hydra config. In a sweep ``sys.argv`` holds the
    whole sweep and ``run.dir`` is not the job folder, so both are pointed at this job.
    """
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir

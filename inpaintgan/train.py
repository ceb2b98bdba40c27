"""`python -m inpaintgan.train [overrides]`: build everything from the Hydra config and fit."""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from pytorch_lightning.utilities.exceptions import SIGTERMException

from inpaintgan.builders import bad_batch_limit, build_module, git_commit
from inpaintgan.callbacks import SaveOnInterrupt, TrainingPosition
from inpaintgan.checkpoints import CHECKPOINT_KEY, read_checkpoint
from inpaintgan.config import (
    CONFIG_DIR,
    accept_plus_experiment,
    build,
    one_of,
    real_number,
    whole_number,
)
from inpaintgan.errors import UsageError, UserError, run_command
from inpaintgan.io import AtomicCheckpointIO
from inpaintgan.loggers import finish_wandb_run
from inpaintgan.table1 import log_evaluation_command

log = logging.getLogger("inpaintgan.train")


def build_loggers(cfg: DictConfig, resume_wandb_id: str | None) -> list[Any]:
    """All configured loggers; a resumed run continues its W&B run id."""
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        kwargs = {"run_id": resume_wandb_id} if name == "wandb" and resume_wandb_id else {}
        loggers.append(instantiate(logger_cfg, **kwargs))
    return loggers


def max_batches_of(cfg: DictConfig, steps_per_batch: int) -> int | None:
    """The run's length in batches: ``max_batches``, or a ``trainer.max_steps`` given in
    optimiser steps (``steps_per_batch`` per batch), whichever is smaller; None if neither."""
    limits = []
    if cfg.get("max_batches"):
        limits.append(int(cfg.max_batches))
    max_steps = cfg.trainer.get("max_steps")
    if max_steps is not None and int(max_steps) > 0:
        limits.append(math.ceil(int(max_steps) / steps_per_batch))
    return min(limits) if limits else None


def build_trainer(cfg: DictConfig, loggers: list[Any], steps_per_batch: int) -> pl.Trainer:
    """The Trainer from config; `max_batches` counts batches, not optimiser steps.

    The batch limit is :class:`TrainingPosition`'s (``trainer.should_stop``), not Lightning's
    ``max_steps``: with ``max_steps`` set, Lightning treats every resume as a restart inside
    an epoch, and a checkpoint saved between epochs resumed one batch and one epoch late.
    """
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    callbacks = [c for c in callbacks if not isinstance(c, TrainingPosition)]
    callbacks.append(TrainingPosition(max_batches_of(cfg, steps_per_batch)))
    overrides: dict[str, Any] = {"max_steps": -1}
    return instantiate(
        cfg.trainer,
        logger=loggers or False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        **overrides,
    )


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _unet_sizes(generator: Any, size: int) -> str | None:
    """Why ``data.size`` does not fit a U-Net generator config, with sizes that do, or None."""
    from inpaintgan.models.unet import resolve_depth

    shift = generator.get("shift_level")
    depth = generator.get("depth")
    max_depth = int(generator.get("max_depth", 8))
    needed = max(2, (int(shift) + 1) if shift is not None else 2)
    try:
        resolved = resolve_depth(size, depth, max_depth)
    except ValueError:
        resolved = 0
    fits = resolved >= needed and size % 2**resolved == 0
    if fits:
        return None
    if depth is not None and int(depth) < needed:
        return (
            f"model.generator.depth={depth} is too shallow for "
            f"model.generator.shift_level={shift} (needs depth >= {needed})"
        )
    multiple = 2 ** (int(depth) if depth is not None else needed)
    sizes = [multiple * 2**i for i in range(10) if multiple * 2**i >= 32][:3]
    examples = ", ".join(str(n) for n in sizes)
    if depth is not None:
        why = f"model.generator.depth={depth} halves it {depth} times"
    elif shift is not None:
        why = f"model.generator.shift_level={shift} needs {needed} levels"
    else:
        why = f"the generator needs {needed} levels"
    return (
        f"data.size={size} does not fit the generator ({why}): data.size must be a "
        f"multiple of {multiple}, e.g. {examples}"
    )


def _precisions() -> tuple[str, ...]:
    """The ``trainer.precision`` values Lightning accepts (its own list, and the short forms)."""
    from typing import get_args

    from lightning_fabric.connector import _PRECISION_INPUT_STR, _PRECISION_INPUT_STR_ALIAS

    return (*get_args(_PRECISION_INPUT_STR), *get_args(_PRECISION_INPUT_STR_ALIAS))


def check_model(cfg: DictConfig) -> None:
    """``model`` must be a trainable variant (a generator config), not a classical method."""
    model = cfg.get("model")
    name = (model or {}).get("name") if isinstance(model, DictConfig) else None
    if model is None or (model.get("generator") is None and model.get("inpainter") is not None):
        raise UsageError(
            f"model={name}: a classical method, nothing to train; train one of "
            "model=paper|shiftnet|ce, and score "
            f"{name or 'it'} with python -m inpaintgan.evaluate model={name}"
        )
    if model.get("generator") is None or not model.get("_target_"):
        raise UsageError(
            f"model={name}: not a trainable model config (it needs a generator); "
            "use model=paper|shiftnet|ce"
        )


def check_trainer(cfg: DictConfig) -> None:
    """Trainer options with a one-line message each; the accelerator this machine has."""
    trainer = cfg.get("trainer") or {}
    # -1: no limit (Lightning's convention)
    whole_number(trainer.get("max_epochs"), "trainer.max_epochs", minimum=-1, none=True)
    whole_number(trainer.get("max_steps", -1), "trainer.max_steps", minimum=-1)
    precision = trainer.get("precision")
    if precision is not None:
        one_of(str(precision), "trainer.precision", _precisions())
    accelerator = str(trainer.get("accelerator") or "auto")
    one_of(accelerator, "trainer.accelerator", ("auto", "cpu", "gpu", "cuda", "mps", "tpu"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"trainer.accelerator={accelerator}: this machine has no CUDA GPU; "
            "add trainer=cpu (or trainer.accelerator=cpu) to train on the CPU"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise UsageError("trainer.accelerator=mps: MPS is not available here; use trainer=cpu")
    devices = trainer.get("devices")
    if accelerator in ("gpu", "cuda") and isinstance(devices, int) and devices > 0:
        count = torch.cuda.device_count()
        if devices > count:
            raise UsageError(f"trainer.devices={devices}: this machine has {count} CUDA GPU(s)")


def check_optim(cfg: DictConfig) -> None:
    """Learning rates finite and > 0, Adam betas in [0, 1)."""
    for name, part in (cfg.get("optim") or {}).items():
        if not isinstance(part, DictConfig):
            continue
        if "lr" in part:
            real_number(part.get("lr"), f"optim.{name}.lr", positive=True)
        betas = part.get("betas")
        if betas is not None:
            for i, beta in enumerate(betas):
                value = real_number(beta, f"optim.{name}.betas[{i}]", minimum=0)
                if value is not None and value >= 1:
                    raise UsageError(f"optim.{name}.betas[{i}]={beta}: must be in [0, 1)")


def check_config(cfg: DictConfig) -> None:
    """Refuse bad values before anything heavy is built (one-line UserError each, naming the
    key, the value and what is allowed).

    The model is a trainable variant; loss weights finite and >= 0; data sizes and batch
    sizes positive integers, ``data.num_workers`` >= 0; ``max_batches`` a positive integer;
    learning rates > 0; trainer epochs, precision and accelerator valid (and present on this
    machine); ``data.size`` compatible with the U-Net's depth and shift level (the message
    names sizes that work).
    """
    check_model(cfg)
    for key, value in (cfg.get("loss") or {}).items():
        if not str(key).endswith("_weight") or value is None:
            continue
        number = _number(value)
        if number is None or not math.isfinite(number) or number < 0:
            raise UserError(f"loss.{key}={value}: a loss weight must be a finite number >= 0")
    data = cfg.get("data") or {}
    for key in ("size", "batch_size", "eval_batch_size", "load_size"):
        value = data.get(key)
        if value is None:
            continue
        number = _number(value)
        if number is None or number != int(number) or number <= 0:
            raise UserError(f"data.{key}={value}: must be a positive whole number")
    whole_number(data.get("num_workers", 0), "data.num_workers", minimum=0)
    if cfg.get("max_batches") is not None:
        value = _number(cfg.max_batches)
        if value is None or not math.isfinite(value) or value != int(value) or value <= 0:
            raise UserError(f"max_batches={cfg.max_batches}: must be a positive whole number")
    bad_batch_limit(cfg, warn=False)  # max_bad_batches (or the deprecated max_bad_steps)
    whole_number(cfg.get("seed", 0), "seed", minimum=0)
    check_optim(cfg)
    check_trainer(cfg)
    generator = (cfg.get("model") or {}).get("generator")
    size = data.get("size")
    if generator is not None and size is not None:
        if str(generator.get("_target_", "")).endswith("UNetGenerator"):
            problem = _unet_sizes(generator, int(size))
            if problem:
                raise UserError(problem)


MATMUL_PRECISIONS = ("highest", "high", "medium")


def matmul_precision_for(setting: str | None, accelerator: str | None) -> str | None:
    """The ``torch.set_float32_matmul_precision`` value for the config's ``matmul_precision``:
    ``auto`` is ``high`` when the trainer runs on a GPU (``accelerator`` gpu / cuda, or auto
    with CUDA present: TF32 for the float32 Gram matrices) and None (torch's default)
    elsewhere; null is None; highest | high | medium as given."""
    if setting is None:
        return None
    if setting == "auto":
        on_gpu = accelerator in ("gpu", "cuda") or (
            accelerator in (None, "auto") and torch.cuda.is_available()
        )
        return "high" if on_gpu else None
    if setting not in MATMUL_PRECISIONS:
        raise UserError(f"matmul_precision={setting}: must be auto, null, highest, high or medium")
    return str(setting)


def _model_signature(config: dict[str, Any]) -> dict[str, Any]:
    """What must match to resume: the variant, its generator/discriminator config, data.size."""
    model = config.get("model") or {}
    return {
        "model.name": model.get("name"),
        "data.size": (config.get("data") or {}).get("size"),
        **{f"model.generator.{k}": v for k, v in (model.get("generator") or {}).items()},
        **{f"model.discriminator.{k}": v for k, v in (model.get("discriminator") or {}).items()},
    }


def check_resume(ckpt_path: str, cfg: DictConfig) -> dict[str, Any]:
    """Read ``ckpt_path`` safely and check it can resume ``cfg``, before anything is built.

    An exported generator file is refused (it holds no training state); a checkpoint of
    another variant, width or size is refused with a line naming the first mismatches.
    Returns its inpaintgan block.
    """
    checkpoint = read_checkpoint(ckpt_path)
    if "state_dict" not in checkpoint or "pytorch-lightning_version" not in checkpoint:
        what = "an exported generator" if "generator" in checkpoint else "not a training checkpoint"
        raise UserError(
            f"ckpt_path={ckpt_path} is {what} (weights only, no optimiser or loop state): "
            "resume needs a training checkpoint such as checkpoints/last.ckpt; use this "
            "file with inpaintgan.predict or inpaintgan.evaluate ckpt=..."
        )
    meta = checkpoint[CHECKPOINT_KEY]
    stored = _model_signature(meta.get("config") or {})
    wanted = _model_signature(OmegaConf.to_container(cfg, resolve=True))
    # Keys only one side has (options added since the checkpoint was written) are not compared.
    differ = [k for k in wanted if k in stored and stored[k] != wanted[k]]
    if differ:

        def short(value: Any) -> str:
            text = repr(value)
            return text if len(text) <= 40 else text[:37] + "..."

        shown = "; ".join(
            f"{k}: checkpoint {short(stored[k])}, config {short(wanted[k])}" for k in differ[:3]
        )
        more = f" (+{len(differ) - 3} more)" if len(differ) > 3 else ""
        raise UserError(
            f"ckpt_path={ckpt_path} was trained with another model: {shown}{more}; resume "
            "with the run's own overrides (its .hydra/overrides.yaml)"
        )
    return meta


def read_resume_metadata(ckpt_path: str | None, cfg: DictConfig | None = None) -> dict[str, Any]:
    """The inpaintgan block of the checkpoint to resume from (validated before building)."""
    if not ckpt_path:
        return {}
    if cfg is not None:
        return check_resume(ckpt_path, cfg)
    return read_checkpoint(ckpt_path)[CHECKPOINT_KEY]


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
    output_dir: str | Path, ckpt_path: str | None, wandb_run_id: str | None = None
) -> tuple[list[Path], str | None]:
    """The lock files this run holds (released when it ends) and, when ``ckpt_path`` is in
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
    if not ckpt_path:
        return held, None
    ckpt = Path(ckpt_path).resolve()
    writer = ckpt.parent.parent / RUN_LOCK  # <run>/checkpoints/last.ckpt
    if writer.resolve() != own.resolve():
        holder = _lock_holder(writer) if writer.is_file() else None
        if holder:
            return held, f"{holder} is still training the run that writes it ({writer})"
    key = f"wandb-{wandb_run_id}" if wandb_run_id else ckpt.name
    lock = ckpt.with_name(f".{key}.resumed.lock")
    holder = take_lock(lock)
    if holder:
        return held, f"{holder} is resuming it already ({lock})"
    if lock.is_file():
        held.append(lock)
    return held, None


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) one run; returns the final logged metrics as floats."""
    # The frozen VGG16 of the style loss is meant to stay in eval mode.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    check_config(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    precision = matmul_precision_for(cfg.get("matmul_precision"), cfg.trainer.get("accelerator"))
    if precision:
        torch.set_float32_matmul_precision(precision)
    resume = read_resume_metadata(cfg.get("ckpt_path"), cfg)

    run_config = OmegaConf.to_container(cfg, resolve=True)
    run_config["git_commit"] = git_commit()
    eval_mask = build(cfg.eval_mask, "eval_mask") if cfg.get("eval_mask") else None
    mask = build(cfg.mask, "mask")
    datamodule = build(cfg.data, "data", mask=mask, eval_mask=eval_mask, seed=cfg.seed)
    # The file lists (data.root, split files) are read now, before W&B or any logger starts:
    # a wrong root is one line and leaves no empty W&B run behind.
    datamodule.setup("fit")
    module = build_module(cfg, run_config)
    wandb_run_id = resume.get("wandb_run_id")
    locks, in_use = claim_run(cfg.paths.output_dir, cfg.get("ckpt_path"), wandb_run_id)
    if in_use:  # two processes logging into one W&B run would interleave their steps
        log.warning(
            "ckpt_path=%s is in use: %s; this resume logs to a new W&B run%s",
            cfg.ckpt_path, in_use, f" (not {wandb_run_id})" if wandb_run_id else "",
        )  # fmt: skip
        wandb_run_id = None
    loggers = build_loggers(cfg, wandb_run_id)
    trainer = build_trainer(cfg, loggers, module.optimizer_steps_per_batch)
    for logger in loggers:
        logger.log_hyperparams(run_config)
        if logger.__class__.__name__ == "WandbLogger":
            module.wandb_run_id = logger.experiment.id

    launcher_env = {key: os.environ.get(key) for key in DDP_LAUNCHER_ENV}
    failed = True
    try:
        # weights_only=True: the resumed checkpoint is opened as safely as every other one.
        try:
            trainer.fit(
                module,
                datamodule=datamodule,
                ckpt_path=cfg.get("ckpt_path"),
                weights_only=True if cfg.get("ckpt_path") else None,
            )
        except SystemExit as stop:  # SIGTERMException is a SystemExit(None): exit status 0
            code = interrupt_exit_code(trainer, stop)
            if code is None:
                raise
            raise SystemExit(code) from stop
        if cfg.get("run_test"):
            trainer.test(module, datamodule=datamodule, ckpt_path="best")
        log_evaluation_command(cfg, trainer)  # the Table-1 score: one evaluate command
        failed = False
    finally:
        forget_ddp_launch(launcher_env)
        finish_wandb_run(failed)  # its files are complete when the job ends
        for lock in locks:
            lock.unlink(missing_ok=True)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


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


def run(cfg: DictConfig) -> float | None:
    """Hydra task body; returns the optimisation target for sweepers (val/psnr)."""
    pin_ddp_children_to_this_job()
    with open_dict(cfg):
        cfg.paths.output_dir = HydraConfig.get().runtime.output_dir
    metrics = train(cfg)
    log.info("run folder: %s", cfg.paths.output_dir)
    return metrics.get(cfg.get("optimized_metric", "val/psnr"))


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base="1.3")
def hydra_main(cfg: DictConfig) -> float | None:
    """The Hydra app; user mistakes exit 2 in one line, which goes to the run's train.log too
    (a missing weights file is one of them)."""
    return run_command("train", run, cfg, also=(FileNotFoundError,), log=True)


def main() -> None:
    """Console entry point (`python -m inpaintgan.train`, `inpaintgan-train`). `+experiment=NAME`
    is read as `experiment=NAME`: train.yaml lists `experiment: null`, so Hydra would refuse
    the `+` that every earlier command line used."""
    sys.argv = accept_plus_experiment(sys.argv)
    hydra_main()


if __name__ == "__main__":
    main()

"""`python -m inpaintgan.train [overrides]`: build everything from the Hydra config and fit.

One training step, end to end: this file builds the data, the model
(:class:`~inpaintgan.module.InpaintingModule`, whose ``training_step`` is the GAN step) and
the Trainer, then fits. The checks before anything heavy is built are
:mod:`inpaintgan.run_checks`; the Trainer and loggers :mod:`inpaintgan.trainer`; the run's
lock files :mod:`inpaintgan.run_lock`; DDP and signal handling :mod:`inpaintgan.launch`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.loggers import WandbLogger

from inpaintgan.builders import build_module, git_commit
from inpaintgan.config import CONFIG_DIR, accept_plus_experiment, build
from inpaintgan.errors import run_command
from inpaintgan.launch import (
    DDP_LAUNCHER_ENV,
    forget_ddp_launch,
    interrupt_exit_code,
    pin_ddp_children_to_this_job,
)
from inpaintgan.loggers import finish_wandb_run
from inpaintgan.run_checks import check_config, read_resume_metadata, resume_checkpoint
from inpaintgan.run_lock import claim_run
from inpaintgan.table1 import log_evaluation_command
from inpaintgan.trainer import build_loggers, build_trainer, matmul_precision_for

log = logging.getLogger("inpaintgan.train")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) one run; returns the final logged metrics as floats."""
    # The frozen VGG16 of the style loss is meant to stay in eval mode.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    ckpt = resume_checkpoint(cfg)  # ckpt= (or the deprecated ckpt_path=)
    check_config(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    precision = matmul_precision_for(cfg.get("matmul_precision"), cfg.trainer.get("accelerator"))
    if precision:
        torch.set_float32_matmul_precision(precision)
    resume = read_resume_metadata(ckpt, cfg)

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
    locks, in_use = claim_run(cfg.paths.output_dir, ckpt, wandb_run_id)
    if in_use:  # two processes logging into one W&B run would interleave their steps
        log.warning(
            "ckpt=%s is in use: %s; this resume logs to a new W&B run%s",
            ckpt, in_use, f" (not {wandb_run_id})" if wandb_run_id else "",
        )  # fmt: skip
        wandb_run_id = None
    loggers = build_loggers(cfg, wandb_run_id)
    trainer = build_trainer(cfg, loggers, module.optimizer_steps_per_batch)
    for logger in loggers:
        logger.log_hyperparams(run_config)
        if isinstance(logger, WandbLogger):
            module.wandb_run_id = logger.experiment.id

    launcher_env = {key: os.environ.get(key) for key in DDP_LAUNCHER_ENV}
    failed = True
    try:
        # weights_only=True: the resumed checkpoint is opened as safely as every other one.
        try:
            weights_only = True if ckpt else None
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt, weights_only=weights_only)
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

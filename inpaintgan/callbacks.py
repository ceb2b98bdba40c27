"""Lightning callbacks: the latest-state checkpoint, image grids of fixed validation images
written to disk and loggers, the best validation score in the W&B summary, and checkpoints as
W&B artifacts."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch import Tensor
from torchvision.utils import make_grid

from inpaintgan.data.datamodule import to_float_batch
from inpaintgan.io import atomic_file
from inpaintgan.loggers import to_uint8_image
from inpaintgan.models.base import composite

log = logging.getLogger(__name__)


class LastCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt`` = the latest training state, for resuming.

    Lightning's own ``save_last`` only refreshes last.ckpt when its monitored checkpoint is
    written, i.e. on a new best ``val/psnr``, so there last.ckpt is the best state, not the
    latest. This one is unmonitored: it overwrites last.ckpt at every epoch end (or after
    validation, as Lightning schedules it) and once more when training ends.
    """

    def __init__(self, dirpath: str | Path, **kwargs: Any) -> None:
        kwargs = {"every_n_epochs": 1, **kwargs}
        super().__init__(
            dirpath=dirpath,
            filename=self.CHECKPOINT_NAME_LAST,
            monitor=None,
            save_top_k=1,
            save_last=False,
            enable_version_counter=False,
            **kwargs,
        )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Training may stop between two saves (``max_batches``): write the final state."""
        super().on_train_end(trainer, pl_module)
        if not trainer.fast_dev_run:
            trainer.save_checkpoint(
                Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}.ckpt", weights_only=False
            )


class SaveOnInterrupt(pl.Callback):
    """Ctrl-C (SIGINT) or SIGTERM during training: write ``<dirpath>/last.ckpt`` with the
    state reached so far and say where it is, so no work since the last epoch end is lost.

    Lightning turns both signals into exceptions (``KeyboardInterrupt``, ``SIGTERMException``)
    and calls ``on_exception`` before it exits; other failures are left alone (a full disk
    would fail again, a non-finite loss saves its own state).
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, KeyboardInterrupt | SIGTERMException):
            return
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        path = self.dirpath / f"{LastCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
        signal_name = "Ctrl-C" if isinstance(exception, KeyboardInterrupt) else "SIGTERM"
        try:
            # No barrier (trainer.save_checkpoint has one): other ranks may be gone already.
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
            trainer.strategy.save_checkpoint(checkpoint, path)
        except Exception as err:  # noqa: BLE001 - report, never mask the interrupt
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"inpaintgan: {signal_name}: could not save {path}: {first}", file=sys.stderr)
            return
        if trainer.is_global_zero:
            self.saved = path
            step = trainer.fit_loop.epoch_loop.total_batch_idx
            message = (
                f"{signal_name}: saved the state at batch {step} to {path} "
                f"(resume: python -m inpaintgan.train ckpt_path={path} with the same overrides)"
            )
            log.warning(message)
            print(f"inpaintgan: {message}", file=sys.stderr)


def masked_input_view(image: Tensor, mask: Tensor) -> Tensor:
    """The damaged input as a person sees it: the hole painted white."""
    return image * (1 - mask) + mask


GRID_COLUMNS = ("masked input", "output", "composite", "ground truth")
"""The columns of :func:`inpainting_grid`, left to right."""


def inpainting_grid(image: Tensor, mask: Tensor, output: Tensor) -> Tensor:
    """One row per image: masked input | output | composite | ground truth, in [0, 1]."""
    comp = composite(output, image, mask)
    columns = [masked_input_view(image, mask), output, comp, image]
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # [B*4, 3, H, W], row-major
    return make_grid(tiles.float().clamp(0, 1), nrow=len(columns), padding=2, pad_value=1.0)


def grid_caption(tag: str, step: int, epoch: int, num_images: int) -> str:
    """The caption of a logged grid: its columns, which images, and when."""
    return (
        f"{' | '.join(GRID_COLUMNS)} · {num_images} fixed val images · "
        f"{tag} · step {step} · epoch {epoch}"
    )


class ImageGridCallback(pl.Callback):
    """Every ``every_n_batches`` training batches and after each validation, inpaint the same
    first ``num_images`` validation images and save/log the grid, so runs compare image by image."""

    def __init__(self, num_images: int = 4, every_n_batches: int = 100, dirpath: str = "samples"):
        self.num_images = num_images
        self.every_n_batches = every_n_batches
        self.dirpath = Path(dirpath)
        self._fixed: dict[str, Tensor] | None = None

    def _fixed_batch(self, trainer: pl.Trainer) -> dict[str, Tensor] | None:
        if self._fixed is None:
            datamodule = trainer.datamodule
            if datamodule is None:
                return None
            images, masks = [], []
            for batch in map(to_float_batch, datamodule.val_dataloader()):
                images.append(batch["image"])
                masks.append(batch["mask"])
                if sum(len(x) for x in images) >= self.num_images:
                    break
            if not images:
                return None
            self._fixed = {
                "image": torch.cat(images)[: self.num_images],
                "mask": torch.cat(masks)[: self.num_images],
            }
        return self._fixed

    @torch.no_grad()
    def write_grid(self, trainer: pl.Trainer, pl_module: pl.LightningModule, tag: str) -> None:
        """Inpaint the fixed images with the current generator and save/log the grid."""
        if not trainer.is_global_zero:
            return
        fixed = self._fixed_batch(trainer)
        if fixed is None:
            return
        image = fixed["image"].to(pl_module.device)
        mask = fixed["mask"].to(pl_module.device)
        was_training = pl_module.generator.training
        pl_module.generator.eval()
        output = pl_module.generator(image, mask).image.float()
        pl_module.generator.train(was_training)
        grid = to_uint8_image(inpainting_grid(image.float(), mask.float(), output))
        step = trainer.fit_loop.epoch_loop.total_batch_idx
        self.dirpath.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.dirpath / f"{tag}_batch{step:07d}.png") as handle:
            Image.fromarray(grid).save(handle, format="PNG")
        caption = grid_caption(tag, step, trainer.current_epoch, len(image))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"samples/{tag}", images=[grid], step=step, caption=[caption])
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    f"samples/{tag}", grid, global_step=step, dataformats="HWC"
                )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        batches = trainer.fit_loop.epoch_loop.total_batch_idx
        if self.every_n_batches and batches % self.every_n_batches == 0:
            self.write_grid(trainer, pl_module, "train")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.write_grid(trainer, pl_module, "val")


class BestMetricSummary(pl.Callback):
    """The best ``monitor`` value so far and the step (batches) and epoch it was reached at,
    in the W&B run summary as ``<monitor>_best``, ``<monitor>_best_step``, ``..._best_epoch``.

    Kept in the checkpoint, so a resumed run continues from the best of its first part.
    """

    def __init__(self, monitor: str = "val/psnr", mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be max or min, not {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None
        self.best_step: int | None = None
        self.best_epoch: int | None = None

    def _improves(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def summary(self) -> dict[str, float | int]:
        """The summary entries (empty before the first validation)."""
        if self.best is None:
            return {}
        return {
            f"{self.monitor}_best": self.best,
            f"{self.monitor}_best_step": self.best_step,
            f"{self.monitor}_best_epoch": self.best_epoch,
        }

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After each validation (its metrics are in ``callback_metrics`` by now)."""
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self._improves(float(value)):
            self.best = float(value)
            self.best_step = int(trainer.fit_loop.epoch_loop.total_batch_idx)
            self.best_epoch = int(trainer.current_epoch)
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.summary.update(self.summary())

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")
        self.best_step = state_dict.get("best_step")
        self.best_epoch = state_dict.get("best_epoch")


def log_checkpoint_artifacts(
    run: Any, last: Path | None, best: Path | None, metadata: dict[str, Any] | None = None
) -> list[list[str]]:
    """Log ``best`` (alias ``best``) and ``last`` (aliases ``last``, ``latest``) as versions
    of the model artifact ``model-<run id>``; returns the aliases logged, in order."""
    import wandb

    logged = []
    for path, aliases in ((best, ["best"]), (last, ["last", "latest"])):
        if path is None or not Path(path).is_file():
            continue
        artifact = wandb.Artifact(
            name=f"model-{run.id}",
            type="model",
            metadata={**(metadata or {}), "original_filename": Path(path).name},
        )
        artifact.add_file(str(path), name="model.ckpt")
        run.log_artifact(artifact, aliases=aliases)
        logged.append(aliases)
    return logged


class WandbModelArtifacts(pl.Callback):
    """With ``logger.wandb.log_model=true`` on an online run: after training, upload the
    best checkpoint (``best``) and last.ckpt (``last``/``latest``) as W&B model artifacts."""

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After every callback's ``on_train_end``, so last.ckpt holds the final state."""
        if not trainer.is_global_zero:
            return
        best_path, best_score, last_path = None, None, None
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, LastCheckpoint):
                last_path = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}.ckpt"
            elif isinstance(callback, ModelCheckpoint) and callback.best_model_path:
                best_path, best_score = Path(callback.best_model_path), callback.best_model_score
        for logger in trainer.loggers:
            if not isinstance(logger, WandbLogger) or not getattr(
                logger, "upload_checkpoints", False
            ):
                continue
            score = None if best_score is None else float(best_score)
            log_checkpoint_artifacts(logger.experiment, last_path, best_path, {"best_score": score})

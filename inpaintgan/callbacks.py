"""Lightning callbacks: the latest-state checkpoint, and image grids of fixed validation images
written to disk and loggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor
from torchvision.utils import make_grid, save_image

from inpaintgan.metrics import composite


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
            trainer.save_checkpoint(Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}.ckpt")


def masked_input_view(image: Tensor, mask: Tensor) -> Tensor:
    """The damaged input as a person sees it: the hole painted white."""
    return image * (1 - mask) + mask


def inpainting_grid(image: Tensor, mask: Tensor, output: Tensor) -> Tensor:
    """One row per image: masked input | output | composite | ground truth, in [0, 1]."""
    comp = composite(output, image, mask)
    columns = [masked_input_view(image, mask), output, comp, image]
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # [B*4, 3, H, W], row-major
    return make_grid(tiles.float().clamp(0, 1), nrow=len(columns), padding=2, pad_value=1.0)


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
            for batch in datamodule.val_dataloader():
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
        grid = inpainting_grid(image.float(), mask.float(), output).cpu()
        step = trainer.fit_loop.epoch_loop._batches_that_stepped
        self.dirpath.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.dirpath / f"{tag}_batch{step:07d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"samples/{tag}", images=[grid], step=step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(f"samples/{tag}", grid, global_step=step)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        batches = trainer.fit_loop.epoch_loop._batches_that_stepped
        if self.every_n_batches and batches % self.every_n_batches == 0:
            self.write_grid(trainer, pl_module, "train")

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.write_grid(trainer, pl_module, "val")

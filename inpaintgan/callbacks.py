"""Lightning callbacks: the latest-state checkpoint, labelled image grids (training batches
and fixed validation images) written to disk and loggers, the best validation score in the
W&B summary, checkpoints as W&B artifacts, and what a run prints: a progress bar counted in
batches on a terminal, plain progress lines (also in train.log) otherwise, and a short
model summary."""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw, ImageFont
from pytorch_lightning.callbacks import ModelCheckpoint, ModelSummary, ProgressBar
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch import Tensor
from torchvision.utils import make_grid

from inpaintgan.data.datamodule import to_float_batch
from inpaintgan.io import atomic_file
from inpaintgan.models.base import composite
from inpaintgan.module import epoch_finished
from inpaintgan.pixels import to_uint8_image

log = logging.getLogger(__name__)


class LastCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt`` = the latest training state, for resuming.

    Lightning's own ``save_last`` only refreshes last.ckpt when its monitored checkpoint is
    written, i.e. on a new best ``val/psnr``, so there last.ckpt is the best state, not the
    latest. This one is unmonitored: it overwrites last.ckpt at every epoch end (after the
    epoch's validation and LR-schedule step) and once more when training ends. Where the
    state sits between batches does not matter for resuming: :class:`TrainingPosition`
    continues from the batch after the last one trained.
    """

    def __init__(self, dirpath: str | Path, **kwargs: Any) -> None:
        kwargs = {"every_n_epochs": 1, "save_on_train_epoch_end": True, **kwargs}
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


def _set_counters(progress: dict[str, Any], part: str, **values: int) -> None:
    """Set the named counters (ready, started, processed, completed) a progress part has."""
    counters = progress.get(part)
    if isinstance(counters, dict):
        for key, value in values.items():
            if key in counters:
                counters[key] = int(value)


def resume_loop_state(
    checkpoint: dict[str, Any],
    position: dict[str, Any],
    steps_per_batch: int = 1,
    loader_state: bool = True,
) -> None:
    """Rewrite Lightning's loop state in ``checkpoint`` (in place) so that fitting from it
    continues at the batch after the last one trained, wherever the state was saved.

    ``position`` is :class:`TrainingPosition`'s: ``batches`` trained in all, ``epochs``
    finished (validation and LR-schedule step done), ``in_epoch`` batches trained of the
    next one, ``per_epoch`` batches in an epoch. Lightning's own counters depend on the hook
    that saved them (epoch end, train end, an interrupt, with or without ``max_steps``), and
    some of those states resumed one batch or one epoch late (issue 24). Three states are
    written, each a path Lightning resumes from as designed:

    * between epochs (``in_epoch == 0``): as a run about to start epoch ``epochs``;
    * inside an epoch: as saved at the end of batch ``in_epoch - 1`` (``on_train_batch_end``);
      the loader gets ``{"epoch", "batches"}`` through Lightning's stateful-loader protocol
      (:class:`inpaintgan.data.sampling.ResumableLoader`) and skips the trained batches;
    * all batches of an epoch trained but its end not reached: as saved after its last
      batch's validation, so the epoch end (schedule step, checkpoints) runs next.
    """
    fit = checkpoint["loops"]["fit_loop"]
    batches, epochs = int(position["batches"]), int(position["epochs"])
    in_epoch, per_epoch = int(position["in_epoch"]), position.get("per_epoch")
    inside = in_epoch > 0
    epoch_end_pending = inside and per_epoch is not None and in_epoch >= int(per_epoch)
    for part in ("total", "current"):
        if inside:
            _set_counters(
                fit["epoch_progress"], part,
                ready=epochs + 1, started=epochs + 1, processed=epochs, completed=epochs,
            )  # fmt: skip
        else:
            _set_counters(
                fit["epoch_progress"], part,
                ready=epochs, started=epochs, processed=epochs, completed=epochs,
            )  # fmt: skip
    progress = fit["epoch_loop.batch_progress"]
    for part, count in (("total", batches), ("current", in_epoch)):
        # Inside an epoch the last batch is not yet "completed" (Lightning completes it
        # when it restarts); between epochs, or with the epoch end pending, it is.
        completed = count - 1 if inside and not epoch_end_pending else count
        _set_counters(
            progress, part, ready=count, started=count, processed=count, completed=completed
        )
    progress["is_last_batch"] = bool(epoch_end_pending)
    # The logging step: Lightning adds the one of the last batch when it restarts inside.
    fit["epoch_loop.state_dict"]["_batches_that_stepped"] = batches - 1 if inside else batches
    steps = batches * int(steps_per_batch)
    optim = fit.get("epoch_loop.manual_optimization.optim_step_progress")
    if isinstance(optim, dict):
        _set_counters(optim, "total", ready=steps, completed=steps)
        current = optim.get("current") or {}
        _set_counters(optim, "current", ready=int(current.get("completed", 0)))
    val = fit.get("epoch_loop.val_loop.batch_progress")
    if isinstance(val, dict):  # no validation half-done: it is never resumed mid-way
        for part in ("total", "current"):
            done = int((val.get(part) or {}).get("completed", 0))
            _set_counters(val, part, ready=done, started=done, processed=done)
    if loader_state:
        state = fit.setdefault("state_dict", {})
        state["combined_loader"] = [{"epoch": epochs, "batches": in_epoch}]
    checkpoint["epoch"] = epochs
    checkpoint["global_step"] = steps


class TrainingPosition(pl.Callback):
    """Where training is, counted in batches, kept in the checkpoint; makes resuming exact.

    Counts the training batches (``batches``), the finished epochs (``epochs``: validation
    and the LR-schedule step done) and the batches of the current epoch (``in_epoch``). On
    resume it rewrites Lightning's loop state from them (:func:`resume_loop_state`), so a
    checkpoint saved at any point continues with the next batch, its images and masks, and
    the step and epoch numbers an uninterrupted run has.

    ``max_batches``: stop after that many training batches (Lightning's ``max_steps`` counts
    optimiser steps, and its step-based stop resumed a batch late). Stopping goes through
    ``trainer.should_stop``, which also runs a validation at the last batch, so the best
    checkpoint, the last grid and the summary describe the final weights.
    """

    def __init__(self, max_batches: int | None = None) -> None:
        self.max_batches = int(max_batches) if max_batches else None
        self.batches = 0
        self.epochs = 0
        self.in_epoch = 0
        self.per_epoch: int | None = None
        self.resumed_from: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "epochs": self.epochs,
            "in_epoch": self.in_epoch,
            "per_epoch": self.per_epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches = int(state_dict.get("batches", 0))
        self.epochs = int(state_dict.get("epochs", 0))
        self.in_epoch = int(state_dict.get("in_epoch", 0))
        self.per_epoch = state_dict.get("per_epoch")

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Before Lightning restores its loops (callbacks are restored first)."""
        position = (checkpoint.get("callbacks") or {}).get(self.state_key)
        if not position or "loops" not in checkpoint:
            log.warning(
                "this checkpoint was written before exact resume (no training position in it): "
                "it resumes with Lightning's own loop state, which may repeat or skip a batch"
            )
            return
        datamodule = getattr(trainer, "datamodule", None)
        files = getattr(datamodule, "format", "files") == "files"
        steps = int(getattr(pl_module, "optimizer_steps_per_batch", 1) or 1)
        resume_loop_state(checkpoint, position, steps, loader_state=files)
        self.resumed_from = dict(position)

    def _stop_at_max_batches(self, trainer: pl.Trainer) -> None:
        if self.max_batches is not None and self.batches >= self.max_batches:
            trainer.should_stop = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        per_epoch = trainer.num_training_batches
        self.per_epoch = int(per_epoch) if math.isfinite(per_epoch) else None
        self._stop_at_max_batches(trainer)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        self.batches += 1
        self.in_epoch += 1
        self._stop_at_max_batches(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Before the module's hook (which steps the schedules on the same condition) and
        before the checkpoint callbacks save."""
        if epoch_finished(trainer):
            self.epochs += 1
            self.in_epoch = 0


def training_position(trainer: pl.Trainer) -> TrainingPosition | None:
    """The run's :class:`TrainingPosition` callback, if it has one."""
    for callback in getattr(trainer, "callbacks", None) or ():
        if isinstance(callback, TrainingPosition):
            return callback
    return None


SIGNAL_EXIT_CODES = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}
"""Exit status of a run stopped by a signal (the shell's convention: 130, 143)."""


class SaveOnInterrupt(pl.Callback):
    """Ctrl-C (SIGINT) or SIGTERM during training: finish the batch, write
    ``<dirpath>/last.ckpt`` with the state reached and say where it is; the run then exits
    with 130 (SIGINT) or 143 (SIGTERM), so a scheduler sees it was stopped.

    Lightning turns SIGTERM into a flag that its loops check after each batch (and raise
    ``SIGTERMException`` on, after calling ``on_exception``); Ctrl-C is turned into the same
    flag here, so the saved state is always between two batches and resumes exactly. A
    second Ctrl-C stops at once, without saving (the batch in progress is half done).
    Other failures are left alone (a full disk would fail again, a non-finite loss saves
    its own state).
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self.signal: str | None = None
        self._previous_sigint: Any = None

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODES[self.signal or "SIGTERM"]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGINT)
        if previous in (signal.SIG_IGN, None):  # a background job: Ctrl-C is not for it
            return

        def stop_after_this_batch(signum: int, frame: Any) -> None:
            if self.signal == "SIGINT" or trainer.received_sigterm:
                raise KeyboardInterrupt  # the second Ctrl-C
            self.signal = "SIGINT"
            trainer._signal_connector.received_sigterm = True
            print(
                "inpaintgan: Ctrl-C: stopping after this batch (Ctrl-C again to stop now, "
                "without saving)",
                file=sys.stderr,
            )

        self._previous_sigint = previous
        signal.signal(signal.SIGINT, stop_after_this_batch)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, KeyboardInterrupt | SIGTERMException):
            return
        if isinstance(exception, KeyboardInterrupt):
            self.signal = "SIGINT"  # exit 130, also before training started
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        if isinstance(exception, KeyboardInterrupt):
            if trainer.is_global_zero:
                print(
                    "inpaintgan: Ctrl-C: stopped in the middle of a batch without saving; "
                    f"{self.dirpath / 'last.ckpt'} holds the last saved state",
                    file=sys.stderr,
                )
            return
        self.signal = self.signal or "SIGTERM"
        path = self.dirpath / f"{LastCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
        signal_name = "Ctrl-C" if self.signal == "SIGINT" else "SIGTERM"
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
            position = training_position(trainer)
            done = position.batches if position else _batches_done(trainer)
            message = (
                f"{signal_name}: saved the state after {done} batches to {path} "
                f"(resume: python -m inpaintgan.train ckpt={path} with the same overrides)"
            )
            log.warning(message)
            print(f"inpaintgan: {message}", file=sys.stderr)


def masked_input_view(image: Tensor, mask: Tensor) -> Tensor:
    """The damaged input as a person sees it: the hole painted white."""
    return image * (1 - mask) + mask


GRID_COLUMNS = ("masked input", "output", "composite", "ground truth")
"""The columns of :func:`inpainting_grid`, left to right."""

GRID_LABELS = ("masked", "output", "composite", "truth")
"""The column labels drawn in the header row of a grid image (short enough for 64-px tiles)."""

GRID_PADDING = 2
"""Pixels between (and around) the tiles of a grid, as torchvision's make_grid lays them."""


def inpainting_grid(image: Tensor, mask: Tensor, output: Tensor) -> Tensor:
    """One row per image: masked input | output | composite | ground truth, in [0, 1]."""
    comp = composite(output, image, mask)
    columns = [masked_input_view(image, mask), output, comp, image]
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # [B*4, 3, H, W], row-major
    return make_grid(
        tiles.float().clamp(0, 1), nrow=len(columns), padding=GRID_PADDING, pad_value=1.0
    )


def _label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _label_size(tile: int) -> int:
    return max(9, min(16, tile // 7))


def header_height(tile: int) -> int:
    """Pixels of the label row above a grid of ``tile``-pixel tiles."""
    return _label_size(tile) + 6


def add_column_labels(
    grid: np.ndarray, labels: tuple[str, ...] = GRID_LABELS, padding: int = GRID_PADDING
) -> np.ndarray:
    """``grid`` (``[H, W, 3]`` uint8, ``len(labels)`` columns of tiles laid out by make_grid)
    with a white header row above it naming each column, centred over its tiles."""
    height, width = grid.shape[:2]
    columns = len(labels)
    tile = (width - padding) // columns - padding
    size = _label_size(tile)
    font = _label_font(size)
    header = header_height(tile)
    canvas = Image.new("RGB", (width, height + header), (255, 255, 255))
    canvas.paste(Image.fromarray(grid), (0, header))
    draw = ImageDraw.Draw(canvas)
    for index, label in enumerate(labels):
        text = label
        while len(text) > 1 and draw.textlength(text, font=font) > tile:
            text = text[:-1]
        left = padding + index * (tile + padding)
        x = left + (tile - draw.textlength(text, font=font)) / 2
        draw.text((x, 2), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas).copy()


def grid_caption(
    tag: str, step: int, epoch: int, num_images: int, source: str = "fixed val images"
) -> str:
    """The caption of a logged grid: its columns, which images, and when."""
    return (
        f"{' | '.join(GRID_COLUMNS)} · {num_images} {source} · {tag} · step {step} · epoch {epoch}"
    )


class ImageGridCallback(pl.Callback):
    """Labelled grids (masked | output | composite | truth, one row per image) saved to
    ``dirpath`` and logged.

    ``train``: every ``every_n_batches`` training batches, the first ``num_images`` images
    of the batch just trained on, with its training masks. ``val``: after each validation,
    the same first ``num_images`` validation images every time, so runs compare image by
    image. ``last_images[tag]`` keeps the images and masks of the latest grid of each tag.
    """

    def __init__(self, num_images: int = 4, every_n_batches: int = 100, dirpath: str = "samples"):
        self.num_images = num_images
        self.every_n_batches = every_n_batches
        self.dirpath = Path(dirpath)
        self._fixed: dict[str, Tensor] | None = None
        self.last_images: dict[str, dict[str, Tensor]] = {}

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
    def write_grid(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        tag: str,
        images: dict[str, Tensor] | None = None,
    ) -> None:
        """Inpaint ``images`` (default: the fixed validation images) with the current
        generator and save/log the labelled grid."""
        if not trainer.is_global_zero:
            return
        source = "images of the training batch" if images is not None else "fixed val images"
        images = images if images is not None else self._fixed_batch(trainer)
        if images is None:
            return
        image = images["image"][: self.num_images].to(pl_module.device)
        mask = images["mask"][: self.num_images].to(pl_module.device)
        self.last_images[tag] = {"image": image.detach().cpu(), "mask": mask.detach().cpu()}
        was_training = pl_module.generator.training
        pl_module.generator.eval()
        output = pl_module.generator(image, mask).image.float()
        pl_module.generator.train(was_training)
        grid = to_uint8_image(inpainting_grid(image.float(), mask.float(), output))
        grid = add_column_labels(grid)
        step = trainer.fit_loop.epoch_loop.total_batch_idx
        self.dirpath.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.dirpath / f"{tag}_batch{step:07d}.png") as handle:
            Image.fromarray(grid).save(handle, format="PNG")
        caption = grid_caption(tag, step, trainer.current_epoch, len(image), source)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"samples/{tag}", images=[grid], step=step, caption=[caption])
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    f"samples/{tag}", grid, global_step=step, dataformats="HWC"
                )

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        *args: Any,
    ) -> None:
        batches = trainer.fit_loop.epoch_loop.total_batch_idx
        if self.every_n_batches and batches % self.every_n_batches == 0:
            images = to_float_batch(batch) if isinstance(batch, dict) else None
            if images is not None and "image" in images and "mask" in images:
                self.write_grid(trainer, pl_module, "train", images)

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


# ------------------------------------------------------------------------------ console

progress_log = logging.getLogger("inpaintgan.progress")
"""Where the plain progress lines, the end-of-training line and the model summary go: the
console and the run's train.log (Hydra's handlers)."""


def _batches_done(trainer: pl.Trainer) -> int:
    return int(trainer.fit_loop.epoch_loop.total_batch_idx) + 1


def _steps_per_batch(pl_module: pl.LightningModule) -> int:
    return max(1, int(getattr(pl_module, "optimizer_steps_per_batch", 1) or 1))


def planned_batches(trainer: pl.Trainer, pl_module: pl.LightningModule) -> int | None:
    """The number of training batches the run is set to make (``max_batches``, or
    ``trainer.max_epochs`` × batches per epoch, whichever ends first), None if unbounded."""
    limits = []
    if trainer.max_steps is not None and trainer.max_steps > 0:
        limits.append(math.ceil(trainer.max_steps / _steps_per_batch(pl_module)))
    position = training_position(trainer)
    if position is not None and position.max_batches:
        limits.append(position.max_batches)
    per_epoch = trainer.num_training_batches
    if trainer.max_epochs is not None and trainer.max_epochs > 0 and math.isfinite(per_epoch):
        limits.append(int(trainer.max_epochs * per_epoch))
    return min(limits) if limits else None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _number(value: Any) -> str:
    value = float(value)
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def end_of_training_line(trainer: pl.Trainer, pl_module: pl.LightningModule) -> str:
    """What ended training, in batches (Lightning's own line counts optimiser steps)."""
    done = _batches_done(trainer)
    position = training_position(trainer)
    if position is not None and position.max_batches and position.batches >= position.max_batches:
        return f"training done: {done} batches (max_batches={position.max_batches} reached)"
    if trainer.max_steps is not None and 0 < trainer.max_steps <= trainer.global_step:
        limit = math.ceil(trainer.max_steps / _steps_per_batch(pl_module))
        return f"training done: {done} batches (max_batches={limit} reached)"
    epochs = trainer.current_epoch
    if trainer.max_epochs is not None and 0 < trainer.max_epochs <= epochs:
        return (
            f"training done: {done} batches, {epochs} epochs "
            f"(trainer.max_epochs={trainer.max_epochs} reached)"
        )
    return f"training stopped after {done} batches"


def _train_metrics(trainer: pl.Trainer) -> str:
    metrics = trainer.progress_bar_metrics
    shown = [f"{k} {_number(v)}" for k, v in metrics.items() if not str(k).startswith("val/")]
    return " · ".join(shown)


def _val_metrics(trainer: pl.Trainer) -> str:
    """The validation scores the progress bar shows (PSNR, SSIM, ...), else every val/ value."""
    shown = {k: v for k, v in trainer.progress_bar_metrics.items() if str(k).startswith("val/")}
    if not shown:
        shown = {k: v for k, v in trainer.callback_metrics.items() if str(k).startswith("val/")}
    first = [k for k in ("val/psnr", "val/ssim") if k in shown]
    keys = first + sorted(k for k in shown if k not in first)
    return " · ".join(f"{k} {_number(shown[k])}" for k in keys)


class PlainProgress(ProgressBar):
    """Progress as plain log lines, for runs whose stdout is not a terminal (nohup, SLURM,
    a pipe): one line every ``every_n_batches`` training batches and one after each
    validation, on the console and in the run's train.log::

        batch 100/2000 · epoch 12 · 7.4 batches/s · ETA 4m17s · g_total 0.4123
        validation at batch 250: val/psnr 17.01 · val/ssim 0.597
    """

    def __init__(self, every_n_batches: int = 100) -> None:
        super().__init__()
        self.every_n_batches = int(every_n_batches)
        self._enabled = True
        self._start: float | None = None
        self._start_batch = 0
        self.lines: list[str] = []

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.trainer.is_global_zero

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        progress_log.info(line)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()
        self._start_batch = _batches_done(trainer) - 1
        if self.is_enabled:
            total = planned_batches(trainer, pl_module)
            every = f"; a line every {self.every_n_batches} batches" if self.every_n_batches else ""
            self._emit(f"training: {total if total else 'unbounded'} batches{every}")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        done = _batches_done(trainer)
        if not self.is_enabled or not self.every_n_batches or done % self.every_n_batches:
            return
        total = planned_batches(trainer, pl_module)
        parts = [f"batch {done}/{total}" if total else f"batch {done}"]
        parts.append(f"epoch {trainer.current_epoch}")
        elapsed = time.perf_counter() - (self._start or time.perf_counter())
        rate = (done - self._start_batch) / elapsed if elapsed > 0 else 0.0
        if rate > 0:
            parts.append(f"{rate:.3g} batches/s")
            if total:
                parts.append(f"ETA {_duration(max(0, total - done) / rate)}")
        metrics = _train_metrics(trainer)
        if metrics:
            parts.append(metrics)
        self._emit(" · ".join(parts))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self.is_enabled or trainer.state.fn != "fit":
            return
        metrics = _val_metrics(trainer)
        self._emit(f"validation at batch {_batches_done(trainer)}: {metrics or 'no metrics'}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.is_enabled:
            self._emit(end_of_training_line(trainer, pl_module))


def _rich_progress_bar() -> type[ProgressBar] | None:
    try:
        from pytorch_lightning.callbacks import RichProgressBar
    except ImportError:
        return None

    class BatchRichProgressBar(RichProgressBar):
        """Lightning's rich bar without a negative epoch total (``max_epochs=-1`` when
        ``max_batches`` decides), with the run's batch count, and the end-of-training line
        in batches."""

        def _get_train_description(self, current_epoch: int) -> str:
            max_epochs = self.trainer.max_epochs
            if max_epochs is not None and max_epochs > 0:
                return f"Epoch {current_epoch}/{max_epochs - 1}"
            return f"Epoch {current_epoch}"

        def get_metrics(
            self, trainer: pl.Trainer, pl_module: pl.LightningModule
        ) -> dict[str, int | str | float | dict[str, float]]:
            metrics = dict(super().get_metrics(trainer, pl_module))
            metrics.pop("v_num", None)
            total = planned_batches(trainer, pl_module)
            if trainer.state.fn == "fit" and not trainer.sanity_checking:
                done = max(0, _batches_done(trainer))
                batch = {"batch": f"{done}/{total}" if total else str(done)}
                metrics = {**batch, **metrics}
            return metrics

        def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            stop = getattr(self, "_stop_progress", None)
            if callable(stop):
                stop()
            if trainer.is_global_zero:
                progress_log.info(end_of_training_line(trainer, pl_module))

    return BatchRichProgressBar


def progress_callback(
    enabled: bool = True, every_n_batches: int = 100, plain: bool | None = None
) -> pl.Callback:
    """The run's progress display: on a terminal, Lightning's rich bar counted in batches;
    when stdout is not a terminal (``plain=null``) or with ``plain=true``, plain lines
    (:class:`PlainProgress`). ``enabled=false`` (``trainer.enable_progress_bar=false``):
    nothing (a callback that does nothing, since the Trainer refuses a bar then)."""
    if not enabled:
        return pl.Callback()
    if plain is None:
        plain = not sys.stdout.isatty()
    rich_bar = None if plain else _rich_progress_bar()
    if rich_bar is None:
        return PlainProgress(every_n_batches)
    return rich_bar()


class ShortModelSummary(ModelSummary):
    """The model's parameter counts in a few lines (no FLOPs column: they are not counted
    here, see ``python -m inpaintgan.bench`` for FLOPs), also in train.log."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        from pytorch_lightning.utilities.model_summary import get_human_readable_count

        columns = dict(summary_data)
        names = columns.get("Name", [])
        types = columns.get("Type", [])
        params = columns.get("Params", [])
        rows = [
            f"  {name:<14} {kind:<20} {count:>7}"
            for name, kind, count in zip(names, types, params, strict=False)
            if str(count).strip() not in ("0", "")
        ]
        head = (
            f"model: {get_human_readable_count(int(trainable_parameters))} trainable parameters "
            f"of {get_human_readable_count(int(total_parameters))} ({model_size:.1f} MB)"
        )
        progress_log.info("\n".join([head, *rows]))


def model_summary_callback(enabled: bool = True) -> pl.Callback:
    """:class:`ShortModelSummary`, or a callback that does nothing when ``enabled=false``
    (``trainer.enable_model_summary=false``)."""
    return ShortModelSummary() if enabled else pl.Callback()

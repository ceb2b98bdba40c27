"""The GAN LightningModule: per batch, one discriminator step, then one generator step.

Read :meth:`InpaintingModule.training_step` first: it runs :meth:`~InpaintingModule.gan_step`
(generate; D's loss and step; G's loss and step), whose two losses are
:meth:`~InpaintingModule.discriminator_loss` and :meth:`~InpaintingModule.generator_loss`
(the terms live in :mod:`inpaintgan.losses`, the networks in :mod:`inpaintgan.models`).
Each optimiser step goes through the :class:`~inpaintgan.step_guard.NonFiniteGuard`
(mixed precision, skipped non-finite steps); the images/s meter is
:class:`~inpaintgan.throughput.Throughput`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from inpaintgan.checkpoints import CHECKPOINT_KEY, checkpoint_metadata
from inpaintgan.errors import NonFiniteLossError
from inpaintgan.metrics import InpaintingMetrics
from inpaintgan.models.base import GeneratorOutput, composite
from inpaintgan.speed import (
    align_optimizer_state,
    apply_memory_format,
    channels_last_for,
    compile_networks,
)
from inpaintgan.step_guard import NonFiniteGuard, StepResult
from inpaintgan.throughput import Throughput

__all__ = [
    "Generated",
    "InpaintingModule",
    "NonFiniteLossError",  # raised by the guard; importable from here as before
    "channels_last_for",
    "epoch_finished",
    "frozen",
]

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


def epoch_finished(trainer: pl.Trainer) -> bool:
    """Whether the current epoch's batches are all trained: its batch count reached
    (Lightning's own rule for its epoch-interval LR schedulers) or its loader exhausted (a
    streaming loader may yield fewer batches than its length says); False at an epoch end
    reached by stopping early (``max_batches``, a signal)."""
    loop = trainer.fit_loop
    if loop.epoch_loop._num_ready_batches_reached():
        return True
    fetcher = getattr(loop, "_data_fetcher", None)
    return bool(fetcher is not None and fetcher.done)


class Generated(NamedTuple):
    """The generator's pass over a batch: its output and the composite (what D judges)."""

    output: GeneratorOutput
    composite: Tensor


@contextlib.contextmanager
def frozen(network: nn.Module | None) -> Iterator[None]:
    """``requires_grad=False`` on ``network``'s trainable parameters inside the block (the other
    network's step: as Lightning's ``toggle_optimizer``, without needing a Trainer)."""
    params = [p for p in network.parameters() if p.requires_grad] if network is not None else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class InpaintingModule(pl.LightningModule):
    """Trains any variant (paper / shiftnet / ce) with manual GAN optimisation.

    Per batch: the discriminator learns real vs the detached composite
    (:meth:`discriminator_loss`), then the generator minimises the weighted loss terms of its
    variant (:meth:`generator_loss`, through ``loss.generator_terms``). The loss methods need
    no Trainer. Each step goes through ``self.guard``
    (:class:`~inpaintgan.step_guard.NonFiniteGuard`): a step whose loss or gradient is not
    finite is skipped (weights untouched) and its batch counted in ``skipped_batches`` (a
    buffer: checkpoints carry it); after ``max_bad_batches`` such batches in a row training
    stops with :class:`NonFiniteLossError`.
    """

    def __init__(
        self,
        generator: nn.Module,
        loss: nn.Module,
        optimizer_g: OptimizerFactory,
        discriminator: nn.Module | None = None,
        optimizer_d: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        grad_clip: float | None = None,
        max_bad_batches: int = 10,
        config: dict[str, Any] | None = None,
        channels_last: bool | str = "auto",
        compile: bool = False,
        discriminator_input: nn.Module | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.variant = name  # the model config's name (paper, shiftnet, ce)
        self.automatic_optimization = False
        self.generator = generator
        self.loss = loss
        self.uses_discriminator = discriminator is not None and loss.adv_weight > 0
        self.discriminator = discriminator if self.uses_discriminator else None
        # What D sees of an image (the hole box or the whole image); None = the whole image.
        self.discriminator_input = discriminator_input if self.uses_discriminator else None
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.scheduler = scheduler
        self.config = config or {}
        channels_last_for(channels_last, torch.device("cpu"))  # refuses a bad value now
        self.channels_last = channels_last
        self.compile_networks_on_setup = compile
        self.val_metrics = InpaintingMetrics(hole=True)  # psnr, ssim, hole_psnr, hole_l1
        self.guard = NonFiniteGuard(max_bad_batches, grad_clip)
        self.register_buffer("skipped_batches", torch.zeros((), dtype=torch.long))
        self.throughput = Throughput()
        self.wandb_run_id: str | None = None

    # ------------------------------------------------------------------- the networks
    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Inpaint: the composite of the generator's prediction with the known pixels."""
        return composite(self.generator(image, mask).image, image, mask)

    def generate(self, batch: dict[str, Any]) -> Generated:
        """The generator's output for the batch and its composite with the known pixels."""
        image, mask = batch["image"], batch["mask"]
        gen = self.generator(image, mask)
        return Generated(gen, composite(gen.image, image, mask))

    def discriminate(self, image: Tensor, mask: Tensor) -> Tensor:
        """D's logits for ``image``, cut to what D sees (``discriminator_input``)."""
        if self.discriminator_input is not None:
            image = self.discriminator_input(image, mask)
        return self.discriminator(image)

    # ---------------------------------------------------------------------- the losses
    def discriminator_loss(
        self, batch: dict[str, Any], generated: Generated | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """D's loss, real ``batch["image"]`` vs the detached composite, both seen through the
        same mask, and its logged values: ``d_real``, ``d_fake``, ``d_total`` (the loss's
        terms) and ``D_real`` / ``D_fake`` (the mean logits).

        ``generated`` is this batch's :meth:`generate` (computed here, without gradient, when
        not given).
        """
        image, mask = batch["image"], batch["mask"]
        if generated is None:
            with torch.no_grad():
                generated = self.generate(batch)
        real_logits = self.discriminate(image, mask)
        fake_logits = self.discriminate(generated.composite.detach(), mask)
        terms = self.loss.discriminator_terms(real_logits, fake_logits)
        logs = {f"d_{k}": v.detach() for k, v in terms.items()}
        logs["D_real"] = real_logits.detach().float().mean()
        logs["D_fake"] = fake_logits.detach().float().mean()
        return terms["total"], logs

    def generator_loss(
        self, batch: dict[str, Any], generated: Generated | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """G's loss (eq. 9, the variant's weighted terms) and its logged values ``g_<term>``
        (``g_total`` is the loss). D judges the composite; the guidance target comes from an
        encoder-only pass over the ground truth. ``generated``: this batch's :meth:`generate`
        (computed here when not given).
        """
        image, mask = batch["image"], batch["mask"]
        generated = generated if generated is not None else self.generate(batch)
        gen, comp = generated
        target = (
            self.generator.guidance_target(image, mask) if self.loss.guidance_weight > 0 else None
        )
        fake_logits = self.discriminate(comp, mask) if self.uses_discriminator else None
        terms = self.loss.generator_terms(
            output=gen.image,
            target=image,
            mask=mask,
            fake_logits=fake_logits,
            gen=gen,
            guidance_target=target,
        )
        return terms["total"], {f"g_{k}": v.detach() for k, v in terms.items()}

    # -------------------------------------------------------------------- the GAN step
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """One batch: :meth:`gan_step` with the Trainer's optimisers, logged as ``train/*``
        (the losses, gradient norms, learning rates, images/s and the guard's counts)."""
        images_per_s = self.throughput.batch_started(batch["image"].shape[0])
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        opt_d = optimizers[1] if self.uses_discriminator else None
        step_logs = self.gan_step(batch, optimizers[0], opt_d)

        logs = {f"train/{k}": v for k, v in step_logs.items()}
        if images_per_s is not None:
            logs["train/images_per_s"] = torch.tensor(images_per_s)
        logs["train/skipped_batches"] = self.skipped_batches.float()
        if self.guard.overflow_steps:
            logs["train/overflow_steps"] = torch.tensor(float(self.guard.overflow_steps))
        for i, opt in enumerate(optimizers):
            logs[f"train/lr_{'gd'[i]}"] = torch.tensor(opt.param_groups[0]["lr"])
        self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False)
        self.log("g_total", step_logs["g_total"], prog_bar=True, on_step=True, logger=False)

    def gan_step(
        self,
        batch: dict[str, Any],
        opt_g: Any,
        opt_d: Any | None = None,
        scaler: torch.amp.GradScaler | None = None,
        phase: Callable[[str], None] | None = None,
    ) -> dict[str, Tensor]:
        """One batch's optimisation, with or without a Trainer: G forward; D step on real vs
        the detached composite (when the variant has a D); then G step. Each step freezes
        the other network (as Lightning's ``toggle_optimizer``) and goes through the guard
        (:meth:`NonFiniteGuard.step`); the batch is then checked once
        (:meth:`NonFiniteGuard.check_batch`, the batch's single host sync). Returns the
        logged values (``d_*``, ``D_real``, ``D_fake``, ``d_grad_norm``, ``g_*``,
        ``g_grad_norm``).

        ``scaler``: a GradScaler for a Trainer-free float16 step (under a Trainer the
        precision plugin's is used). ``phase(name)`` is called at the end of each phase
        (``G forward``, ``D step``, ``G losses forward``, ``G backward + Adam``): the
        bench's clock.
        """
        phase = phase or (lambda name: None)
        generated = self.generate(batch)
        phase("G forward")
        logs: dict[str, Tensor] = {}
        steps: dict[str, StepResult] = {}
        if self.uses_discriminator:
            with frozen(self.generator):
                d_total, d_logs = self.discriminator_loss(batch, generated)
                steps["d"] = self.guard.step(self, opt_d, d_total, self.discriminator, scaler)
            logs.update(d_logs, d_grad_norm=steps["d"].grad_norm)
            phase("D step")
        with frozen(self.discriminator):
            g_total, g_logs = self.generator_loss(batch, generated)
            phase("G losses forward")
            steps["g"] = self.guard.step(self, opt_g, g_total, self.generator, scaler)
            phase("G backward + Adam")
        logs.update(g_logs, g_grad_norm=steps["g"].grad_norm)
        self.guard.check_batch(self, steps, scaler)
        return logs

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """Lightning calls this after the backward closure (and, with a scaler, after it has
        unscaled the gradients), right before the optimiser step: the guard takes the
        gradient norm and decides the skip here."""
        self.guard.before_optimizer_step()

    def on_train_epoch_start(self) -> None:
        """The first batch of an epoch follows the epoch end (checkpoints, validation): its
        interval is not a training batch's, so the images/s clock restarts."""
        self.throughput.restart(self.trainer.log_every_n_steps)

    def on_train_epoch_end(self) -> None:
        """Step the LR schedules once per finished epoch; an epoch cut short (``max_batches``,
        a signal) is continued by its resume and steps them when it really ends."""
        schedulers = self.lr_schedulers()
        if schedulers is None or not epoch_finished(self.trainer):
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    # ---------------------------------------------------------------------- optimisers
    def configure_optimizers(self) -> Any:
        """Adam for G (and D); an optional schedule per optimiser, stepped once per epoch."""
        optimizers = [self.optimizer_g(self.generator.parameters())]
        if self.uses_discriminator:
            if self.optimizer_d is None:
                raise ValueError("optim.discriminator is required when the model has one")
            optimizers.append(self.optimizer_d(self.discriminator.parameters()))
        if self.scheduler is None:
            return optimizers
        return optimizers, [self.scheduler(opt) for opt in optimizers]

    @property
    def optimizer_steps_per_batch(self) -> int:
        """Lightning's ``global_step`` counts optimiser steps: 2 per batch with a D, else 1."""
        return 2 if self.uses_discriminator else 1

    # ---------------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """The composite's metrics (PSNR, SSIM, hole PSNR/L1) and G's loss terms, ``val/*``."""
        self._evaluation_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """As :meth:`validation_step`, logged under ``test/*``."""
        self._evaluation_step(batch, "test")

    def _evaluation_step(self, batch: dict[str, Any], prefix: str) -> None:
        generated = self.generate(batch)
        image, mask = batch["image"], batch["mask"]
        self.val_metrics.update(generated.composite, image, mask)
        _, logs = self.generator_loss(batch, generated)
        self.log_dict(
            {f"{prefix}/{k}": v for k, v in logs.items()},
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            batch_size=image.shape[0],
        )

    def on_validation_epoch_end(self) -> None:
        """Log the epoch's ``val/`` metrics; a mid-epoch validation is not a training
        interval, so the images/s clock restarts."""
        values = self.val_metrics.compute()
        self.log_dict({f"val/{k}": v for k, v in values.items()}, prog_bar=True, sync_dist=False)
        self.val_metrics.reset()
        self.throughput.restart()

    def on_test_epoch_end(self) -> None:
        """Log the ``test/`` metrics (the same ones as validation)."""
        values = self.val_metrics.compute()
        self.log_dict({f"test/{k}": v for k, v in values.items()})
        self.val_metrics.reset()

    # ------------------------------------------------------------- speed, checkpoints
    def use_channels_last(self, device: torch.device) -> bool:
        """Whether to train in channels_last on ``device`` (:func:`speed.channels_last_for`)."""
        return channels_last_for(self.channels_last, device)

    def apply_memory_format(self, device: torch.device) -> None:
        """channels_last weights when configured for ``device`` (:mod:`inpaintgan.speed`)."""
        apply_memory_format(self, self.channels_last, device)

    def compile_networks(self) -> None:
        """``torch.compile`` the generator and the discriminator in place."""
        compile_networks(self.generator, self.discriminator)

    def setup(self, stage: str) -> None:
        """Memory format and compilation for the device the Trainer will run on (once: a
        test after fit calls setup again)."""
        self.apply_memory_format(self.trainer.strategy.root_device)
        if self.compile_networks_on_setup:
            self.compile_networks()
            self.compile_networks_on_setup = False

    def on_train_start(self) -> None:
        """A resumed optimiser state gets its parameters' strides (:mod:`inpaintgan.speed`)."""
        align_optimizer_state(self.trainer.optimizers)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the resolved run config (to rebuild the generator), the W&B run id and the
        guard's count of bad batches in a row (a resume continues that count)."""
        meta = checkpoint_metadata(self.config)
        meta["wandb_run_id"] = self.wandb_run_id
        meta["optimizer_steps_per_batch"] = self.optimizer_steps_per_batch
        meta["bad_batches_in_a_row"] = int(self.guard.bad_batches_in_a_row)
        checkpoint[CHECKPOINT_KEY] = meta

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A resumed run keeps counting bad batches in a row where the checkpoint stopped."""
        meta = checkpoint.get(CHECKPOINT_KEY) or {}
        self.guard.bad_batches_in_a_row = int(meta.get("bad_batches_in_a_row", 0) or 0)

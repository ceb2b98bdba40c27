"""The GAN LightningModule: one discriminator step, then one generator step, per batch."""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
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


class StepResult(NamedTuple):
    """One network's step (:meth:`InpaintingModule.step_network`), all on the device."""

    grad_norm: Tensor  # before clipping; NaN when the step was skipped
    status: Tensor  # 0 stepped, 1 float16 overflow skipped by the scaler, 2 non-finite
    loss: Tensor  # the loss, detached (for the message when the run stops)


def _unscales_in_step(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` unscales inside its own step (fused Adam): Lightning's
    precision plugin then leaves ``GradScaler.unscale_`` to the caller (the same test as its
    ``_optimizer_handles_unscaling``)."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False))


def _skip_step_unless(optimizer: torch.optim.Optimizer, ok: Tensor) -> None:
    """Make the coming ``optimizer.step()`` a no-op when ``ok`` is False: a fused optimiser
    reads ``found_inf`` on the device (no host sync; parameters, moments and step count stay
    as they were); any other optimiser has its gradients dropped after a host read of
    ``ok`` (it skips parameters without a gradient)."""
    if _unscales_in_step(optimizer):
        optimizer.found_inf = (~ok).to(torch.float32)
    elif not bool(ok):  # host sync: non-fused optimisers cannot skip on the device
        optimizer.zero_grad(set_to_none=True)


class Throughput:
    """Training images/s between consecutive batch starts, averaged over the last
    ``window`` intervals (the logging window: ``trainer.log_every_n_steps``).

    The clock is the host's, with no device synchronisation of its own: each batch ends
    with one host read of its finiteness flags (:meth:`InpaintingModule.check_batch`), so
    the host cannot run ahead of the device by more than a batch and the interval between
    two batch starts is the time of a whole training batch (data, D and G steps, hooks).
    """

    def __init__(self, window: int = 50) -> None:
        self.intervals: deque[tuple[float, int]] = deque(maxlen=max(1, window))
        self.last: tuple[float, int] | None = None

    def restart(self, window: int | None = None) -> None:
        """Forget the last batch start (after validation); resize the window if given."""
        if window is not None and window != self.intervals.maxlen:
            self.intervals = deque(self.intervals, maxlen=max(1, window))
        self.last = None

    def batch_started(self, images: int, now: float | None = None) -> float | None:
        """Record the start of a batch of ``images``; returns images/s over the window
        (None before the first complete interval)."""
        now = time.perf_counter() if now is None else now
        if self.last is not None:
            started, size = self.last
            self.intervals.append((now - started, size))
        self.last = (now, images)
        seconds = sum(t for t, _ in self.intervals)
        if not self.intervals or seconds <= 0:
            return None
        return sum(n for _, n in self.intervals) / seconds


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
    no Trainer; :meth:`training_step` steps the optimisers with them through
    :meth:`step_network` and checks the batch once (:meth:`check_batch`): a step whose loss
    or gradient is not finite is skipped (weights untouched), its batch counted; after
    ``max_bad_steps`` such batches in a row training stops with :class:`NonFiniteLossError`.
    float16 overflows skipped by a GradScaler are not counted (:meth:`check_batch`).
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
        max_bad_steps: int = 10,
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
        self.grad_clip = grad_clip
        self.max_bad_steps = max_bad_steps
        self.config = config or {}
        channels_last_for(channels_last, torch.device("cpu"))  # refuses a bad value now
        self.channels_last = channels_last
        self.compile_networks_on_setup = compile
        self.val_metrics = InpaintingMetrics(hole=True)  # psnr, ssim, hole_psnr, hole_l1
        self.bad_steps_in_a_row = 0
        self.register_buffer("skipped_batches", torch.zeros((), dtype=torch.long))
        self.overflow_steps = 0  # float16 steps the GradScaler skipped (not bad batches)
        self._throughput = Throughput()
        self._before_optimizer_step: Callable[[], None] | None = None
        self.wandb_run_id: str | None = None

    # ---------------------------------------------------------------------- speed
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

    # ----------------------------------------------------------------- optimisers
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

    # ------------------------------------------------------------------- training
    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        """Inpaint: the composite of the generator's prediction with the known pixels."""
        return composite(self.generator(image, mask).image, image, mask)

    def discriminate(self, image: Tensor, mask: Tensor) -> Tensor:
        """D's logits for ``image``, cut to what D sees (``discriminator_input``)."""
        if self.discriminator_input is not None:
            image = self.discriminator_input(image, mask)
        return self.discriminator(image)

    def generate(self, batch: dict[str, Any]) -> Generated:
        """The generator's output for the batch and its composite with the known pixels."""
        image, mask = batch["image"], batch["mask"]
        gen = self.generator(image, mask)
        return Generated(gen, composite(gen.image, image, mask))

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
        the other network (as Lightning's ``toggle_optimizer``) and goes through
        :meth:`step_network`; the batch's finiteness is then checked once
        (:meth:`check_batch`, the batch's single host sync). Returns the logged values
        (``d_*``, ``D_real``, ``D_fake``, ``d_grad_norm``, ``g_*``, ``g_grad_norm``).

        ``phase(name)`` is called at the end of each phase (``G forward``, ``D step``,
        ``G losses forward``, ``G backward + Adam``): the bench's clock.
        """
        phase = phase or (lambda name: None)
        generated = self.generate(batch)
        phase("G forward")
        logs: dict[str, Tensor] = {}
        steps: dict[str, StepResult] = {}
        if self.uses_discriminator:
            with frozen(self.generator):
                d_total, d_logs = self.discriminator_loss(batch, generated)
                steps["d"] = self.step_network(opt_d, d_total, "d", scaler)
                d_logs["d_grad_norm"] = steps["d"].grad_norm
            logs.update(d_logs)
            phase("D step")
        with frozen(self.discriminator):
            g_total, g_logs = self.generator_loss(batch, generated)
            phase("G losses forward")
            steps["g"] = self.step_network(opt_g, g_total, "g", scaler)
            g_logs["g_grad_norm"] = steps["g"].grad_norm
            phase("G backward + Adam")
        logs.update(g_logs)
        self.check_batch(steps, scaler)
        return logs

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """:meth:`gan_step` with the Trainer's optimisers; logs it as ``train/*``."""
        images_per_s = self._throughput.batch_started(batch["image"].shape[0])
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        opt_d = optimizers[1] if self.uses_discriminator else None
        step_logs = self.gan_step(batch, optimizers[0], opt_d)

        logs = {f"train/{k}": v for k, v in step_logs.items()}
        if images_per_s is not None:
            logs["train/images_per_s"] = torch.tensor(images_per_s)
        logs["train/skipped_batches"] = self.skipped_batches.float()
        if self.overflow_steps:
            logs["train/overflow_steps"] = torch.tensor(float(self.overflow_steps))
        for i, opt in enumerate(optimizers):
            logs[f"train/lr_{'gd'[i]}"] = torch.tensor(opt.param_groups[0]["lr"])
        self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False)
        self.log("g_total", step_logs["g_total"], prog_bar=True, on_step=True, logger=False)

    def on_train_epoch_start(self) -> None:
        """The first batch of an epoch follows the epoch end (checkpoints, validation): its
        interval is not a training batch's, so the images/s clock restarts."""
        self._throughput.restart(self.trainer.log_every_n_steps)

    def guarded_step(
        self, optimizer: Any, total: Tensor, name: str, scaler: torch.amp.GradScaler | None = None
    ) -> Tensor:
        """:meth:`step_network` then :meth:`check_batch` for this one step: the ``name``
        network (``"g"`` or ``"d"``) is stepped unless its loss or gradient is not finite,
        and a skip is counted (after ``max_bad_steps`` in a row, :class:`NonFiniteLossError`).
        Returns the gradient norm (NaN when skipped). :meth:`gan_step` steps both networks
        first and checks the batch once instead."""
        result = self.step_network(optimizer, total, name, scaler)
        self.check_batch({name: result}, scaler)
        return result.grad_norm

    def step_network(
        self, optimizer: Any, total: Tensor, name: str, scaler: torch.amp.GradScaler | None = None
    ) -> StepResult:
        """Backward, clip, step the ``name`` network (``"g"`` or ``"d"``), skipping the update
        when the loss or the gradient is not finite, without reading anything on the host.

        * A non-finite loss is turned into NaN gradients (the loss is multiplied by 1, or by
          NaN when it is not finite), so the gradient check sees it, on every rank under DDP
          (gradients are averaged across ranks during backward).
        * The gradient norm is taken on unscaled gradients (a ``GradScaler`` unscales first),
          and is what ``optim.grad_clip`` clips.
        * The skip: with a ``GradScaler`` (float16) the optimiser always steps through it,
          which skips a step whose gradients are not finite and backs the scale off in
          ``update()``. Without one, a fused optimiser (``conf/optim/adam.yaml``:
          ``fused: true``) gets the flag as its ``found_inf`` and skips on the device; any
          other optimiser has its gradients dropped after one host read of the flag.

        Runs with or without a Trainer. Attached, the backward and the step go through
        Lightning (``optimizer.step(closure)``: its precision plugin owns the scaler and
        unscales before ``on_before_optimizer_step``, where the norm is taken); Trainer-free
        (the bench), through ``scaler`` (a disabled one counts as none). The result holds
        the norm (NaN when skipped) and the step's status on the device, for
        :meth:`check_batch`.
        """
        network = self.generator if name == "g" else self.discriminator
        raw = getattr(optimizer, "optimizer", optimizer)  # under a LightningOptimizer
        attached = self._trainer is not None and raw is not optimizer  # Lightning's step
        scaler = self._active_scaler(scaler)
        optimizer.zero_grad(set_to_none=True)
        loss_ok = torch.isfinite(total.detach())
        poisoned = total * torch.where(loss_ok, 1.0, math.nan)
        found: dict[str, Tensor] = {}

        def backward() -> None:
            if attached:
                self.manual_backward(poisoned)  # the precision plugin scales it
            elif scaler is not None:
                scaler.scale(poisoned).backward()
            else:
                poisoned.backward()

        def before_step() -> None:
            if scaler is not None and (not attached or _unscales_in_step(raw)):
                scaler.unscale_(raw)  # (attached: Lightning unscales the other optimisers)
            grad_norm = self._clip_grad_norm(network)
            ok = torch.isfinite(grad_norm) & loss_ok.to(grad_norm.device)
            if scaler is None:
                _skip_step_unless(raw, ok)
            found.update(grad_norm=grad_norm, ok=ok)

        try:
            if attached:
                self._before_optimizer_step = before_step
                optimizer.step(closure=backward)
            else:
                backward()
                before_step()
                if scaler is not None:
                    scaler.step(raw)
                    scaler.update()
                else:
                    raw.step()
        finally:
            self._before_optimizer_step = None
            if hasattr(raw, "found_inf"):
                del raw.found_inf
        if not found:
            raise RuntimeError(
                "the optimiser step never called on_before_optimizer_step: this strategy's "
                "optimizer_step is not supported by the guarded step"
            )
        ok = found["ok"]
        # 0 = stepped; 1 = a float16 overflow the scaler skipped (the loss was finite);
        # 2 = a non-finite loss, or a non-finite gradient without a scaler.
        bad = ~ok & ~loss_ok.to(ok.device) if scaler is not None else ~ok
        status = (~ok).to(torch.float32) + bad.to(torch.float32)
        grad_norm = torch.where(ok, found["grad_norm"], math.nan).detach()
        return StepResult(grad_norm, status, total.detach())

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """Lightning calls this after the backward closure (and, with a scaler, after it has
        unscaled the gradients), right before the optimiser step: :meth:`step_network`
        takes the gradient norm and decides the skip here."""
        if self._before_optimizer_step is not None:
            self._before_optimizer_step()

    def check_batch(
        self, steps: dict[str, StepResult], scaler: torch.amp.GradScaler | None = None
    ) -> None:
        """Count the batch's skipped steps: its statuses (one per network) are reduced once
        across ranks (max, so every rank takes the same decision) and read on the host once
        (the batch's only host sync with a fused optimiser).

        The rule: a batch with a non-finite loss, or a non-finite gradient without a
        ``GradScaler``, is a bad batch: counted in ``skipped_batches``; ``max_bad_steps`` bad
        batches in a row raise :class:`NonFiniteLossError` (after saving the last good
        state). A float16 overflow that the scaler skipped (finite loss) is the scaler doing
        its job: counted in ``overflow_steps`` only, neither bad nor good for the count in a
        row; once the scale has fallen below 1 (the gradients overflow even unscaled) it
        counts as bad too. A batch whose steps all went through resets the count.
        """
        names = list(steps)
        flags = torch.stack([steps[name].status for name in names])
        if self._trainer is not None:
            flags = self.trainer.strategy.reduce(flags, reduce_op="max")
        codes = [int(code) for code in flags.tolist()]  # the batch's host sync
        overflowed = [name for name, code in zip(names, codes, strict=True) if code == 1]
        bad = [name for name, code in zip(names, codes, strict=True) if code == 2]
        if overflowed:
            self.overflow_steps += len(overflowed)
            active = self._active_scaler(scaler)
            if active is not None and active.get_scale() < 1.0:
                bad += overflowed
        if not bad:
            if not overflowed:
                self.bad_steps_in_a_row = 0
            return
        self.skipped_batches += 1
        self.bad_steps_in_a_row += 1
        what = " and ".join(bad)
        rank_zero_warn(
            f"non-finite {what} loss/gradient at batch {self._batches_seen()}: "
            f"step skipped ({self.bad_steps_in_a_row} in a row)"
        )
        if self.bad_steps_in_a_row >= self.max_bad_steps:
            saved = self._save_last_good_checkpoint()
            last = bad[-1]
            raise NonFiniteLossError(
                f"{self.bad_steps_in_a_row} consecutive non-finite losses (last: {last} loss "
                f"{steps[last].loss.item()}); the weights were not updated by them"
                + (f"; last good state saved to {saved}" if saved else "")
            )

    def _active_scaler(self, scaler: torch.amp.GradScaler | None) -> torch.amp.GradScaler | None:
        """The GradScaler in use: the precision plugin's under a Trainer (16-mixed), else
        ``scaler``; None when there is none or it is disabled."""
        if self._trainer is not None:
            scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        return scaler if scaler is not None and scaler.is_enabled() else None

    def _clip_grad_norm(self, network: nn.Module) -> Tensor:
        """The global gradient norm of ``network`` (before clipping), clipped to
        ``grad_clip`` when set; no pass over the gradients when not."""
        params = [p for p in network.parameters() if p.grad is not None]
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        if self.grad_clip:
            torch.nn.utils.clip_grads_with_norm_(params, self.grad_clip, grad_norm)
        return grad_norm

    def _save_last_good_checkpoint(self) -> str | None:
        """Skipped steps never touched the weights, so the current state is the last good one."""
        if self._trainer is None:
            return None
        callback = self.trainer.checkpoint_callback
        if callback is None or not getattr(callback, "dirpath", None):
            return None
        path = f"{callback.dirpath}/last.ckpt"
        self.trainer.save_checkpoint(path)
        return path

    def _batches_seen(self) -> int:
        return self.trainer.fit_loop.epoch_loop.total_batch_idx if self._trainer else 0

    def on_train_epoch_end(self) -> None:
        """Step the LR schedules once per finished epoch; an epoch cut short (``max_batches``,
        a signal) is continued by its resume and steps them when it really ends."""
        schedulers = self.lr_schedulers()
        if schedulers is None or not epoch_finished(self.trainer):
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    # ----------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        generated = self.generate(batch)
        image, mask = batch["image"], batch["mask"]
        self.val_metrics.update(generated.composite, image, mask)
        _, logs = self.generator_loss(batch, generated)
        self.log_dict(
            {f"val/{k}": v for k, v in logs.items()},
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            batch_size=image.shape[0],
        )

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.log_dict({f"val/{k}": v for k, v in values.items()}, prog_bar=True, sync_dist=False)
        self.val_metrics.reset()
        self._throughput.restart()  # a mid-epoch validation is not a training interval

    test_step = validation_step

    def on_test_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.log_dict({f"test/{k}": v for k, v in values.items()})
        self.val_metrics.reset()

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the resolved run config (to rebuild the generator) and the W&B run id."""
        meta = checkpoint_metadata(self.config)
        meta["wandb_run_id"] = self.wandb_run_id
        meta["optimizer_steps_per_batch"] = self.optimizer_steps_per_batch
        checkpoint[CHECKPOINT_KEY] = meta

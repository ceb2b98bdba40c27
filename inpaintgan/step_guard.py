"""The guard around each optimiser step of the GAN: a step whose loss or gradient is not
finite is skipped (the weights and the optimiser state stay as they were), its batch is
counted, and ``max_bad_batches`` bad batches in a row stop the run.

Kept out of :mod:`inpaintgan.module` so that the module reads as the GAN step (losses,
optimiser order, logging) and this one file holds the mixed-precision and non-finite
plumbing: the GradScaler, fused Adam's on-device skip, the gradient norm and its clipping,
and the batch's single host sync.

The rule. A batch with a non-finite loss, or a non-finite gradient without a
``GradScaler``, is a *bad batch*: counted in the module's ``skipped_batches`` buffer (saved
in checkpoints, so a resumed run continues the count); ``max_bad_batches`` bad batches in a
row raise :class:`~inpaintgan.errors.NonFiniteLossError`, after saving the last good state.
A float16 overflow that the scaler skipped (finite loss) is the scaler doing its job:
counted in ``overflow_steps`` only, neither bad nor good for the count in a row; once the
scale has fallen below 1 (the gradients overflow even unscaled) it counts as bad too. A
batch whose steps all went through resets the count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from inpaintgan.errors import NonFiniteLossError

__all__ = ["NonFiniteGuard", "StepResult", "clip_grad_norm"]

# A step's status, on the device: what :meth:`NonFiniteGuard.check_batch` reads.
STEPPED, OVERFLOW, NON_FINITE = 0, 1, 2


class StepResult(NamedTuple):
    """One network's guarded step (:meth:`NonFiniteGuard.step`), all on the device."""

    grad_norm: Tensor  # before clipping; NaN when the step was skipped
    status: Tensor  # STEPPED, OVERFLOW (skipped by the scaler) or NON_FINITE
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


def clip_grad_norm(network: nn.Module, max_norm: float | None) -> Tensor:
    """The global gradient norm of ``network`` (before clipping), its gradients clipped to
    ``max_norm`` when set (``optim.grad_clip``); no pass over the gradients when not."""
    params = [p for p in network.parameters() if p.grad is not None]
    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    if max_norm:
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, grad_norm)
    return grad_norm


def _attached(module: pl.LightningModule) -> bool:
    return module._trainer is not None


def _save_last_good_checkpoint(module: pl.LightningModule) -> str | None:
    """Skipped steps never touched the weights, so the current state is the last good one:
    saved as ``last.ckpt`` beside the run's checkpoints (None without a Trainer or one)."""
    if not _attached(module):
        return None
    callback = module.trainer.checkpoint_callback
    if callback is None or not getattr(callback, "dirpath", None):
        return None
    path = f"{callback.dirpath}/last.ckpt"
    module.trainer.save_checkpoint(path)
    return path


class NonFiniteGuard:
    """Steps a network unless its loss or gradient is not finite, and counts bad batches
    (the rule: this module's docstring).

    :meth:`step` backs a loss up and steps its optimiser (or skips the step) without reading
    anything on the host; :meth:`check_batch` then reads the batch's statuses once and
    counts. Both take the LightningModule whose networks they step: attached to a Trainer
    they go through Lightning (``manual_backward``, ``optimizer.step(closure)``, the
    precision plugin's scaler, the strategy's reduce); Trainer-free (the bench, tests)
    through the ``scaler`` given. The module forwards its ``on_before_optimizer_step`` hook
    to :meth:`before_optimizer_step`.
    """

    def __init__(self, max_bad_batches: int = 10, grad_clip: float | None = None) -> None:
        self.max_bad_batches = max_bad_batches
        self.grad_clip = grad_clip
        self.bad_batches_in_a_row = 0
        self.overflow_steps = 0  # float16 steps the GradScaler skipped (not bad batches)
        self._before_step: Callable[[], None] | None = None

    def active_scaler(
        self, module: pl.LightningModule, scaler: torch.amp.GradScaler | None = None
    ) -> torch.amp.GradScaler | None:
        """The GradScaler in use: the precision plugin's under a Trainer (16-mixed), else
        ``scaler``; None when there is none or it is disabled."""
        if _attached(module):
            scaler = getattr(module.trainer.precision_plugin, "scaler", None)
        return scaler if scaler is not None and scaler.is_enabled() else None

    def step(
        self,
        module: pl.LightningModule,
        optimizer: Any,
        loss: Tensor,
        network: nn.Module,
        scaler: torch.amp.GradScaler | None = None,
    ) -> StepResult:
        """Backward ``loss``, clip, and step ``optimizer`` (which owns ``network``), skipping
        the update when the loss or the gradient is not finite, without reading anything on
        the host.

        * A non-finite loss is turned into NaN gradients (the loss is multiplied by 1, or by
          NaN when it is not finite), so the gradient check sees it, on every rank under DDP
          (gradients are averaged across ranks during backward).
        * The gradient norm is taken on unscaled gradients (a ``GradScaler`` unscales first),
          and is what ``grad_clip`` clips.
        * The skip: with a ``GradScaler`` (float16) the optimiser always steps through it,
          which skips a step whose gradients are not finite and backs the scale off in
          ``update()``. Without one, a fused optimiser (``conf/optim/adam.yaml``:
          ``fused: true``) gets the flag as its ``found_inf`` and skips on the device; any
          other optimiser has its gradients dropped after one host read of the flag.

        Attached, the backward and the step go through Lightning (``optimizer.step(closure)``:
        its precision plugin owns the scaler and unscales before ``on_before_optimizer_step``,
        where the norm is taken); Trainer-free, through ``scaler`` (a disabled one counts as
        none). The result holds the norm (NaN when skipped) and the step's status on the
        device, for :meth:`check_batch`.
        """
        raw = getattr(optimizer, "optimizer", optimizer)  # under a LightningOptimizer
        attached = _attached(module) and raw is not optimizer  # Lightning's step
        scaler = self.active_scaler(module, scaler)
        optimizer.zero_grad(set_to_none=True)
        loss_ok = torch.isfinite(loss.detach())
        poisoned = loss * torch.where(loss_ok, 1.0, math.nan)
        found: dict[str, Tensor] = {}

        def backward() -> None:
            if attached:
                module.manual_backward(poisoned)  # the precision plugin scales it
            elif scaler is not None:
                scaler.scale(poisoned).backward()
            else:
                poisoned.backward()

        def before_step() -> None:
            if scaler is not None and (not attached or _unscales_in_step(raw)):
                scaler.unscale_(raw)  # (attached: Lightning unscales the other optimisers)
            grad_norm = clip_grad_norm(network, self.grad_clip)
            ok = torch.isfinite(grad_norm) & loss_ok.to(grad_norm.device)
            if scaler is None:
                _skip_step_unless(raw, ok)
            found.update(grad_norm=grad_norm, ok=ok)

        try:
            if attached:
                self._before_step = before_step
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
            self._before_step = None
            if hasattr(raw, "found_inf"):
                del raw.found_inf
        if not found:
            raise RuntimeError(
                "the optimiser step never called on_before_optimizer_step: this strategy's "
                "optimizer_step is not supported by the guarded step"
            )
        ok = found["ok"]
        # OVERFLOW: the scaler skipped a step whose loss was finite; NON_FINITE: a
        # non-finite loss, or a non-finite gradient without a scaler.
        bad = ~ok & ~loss_ok.to(ok.device) if scaler is not None else ~ok
        status = (~ok).to(torch.float32) + bad.to(torch.float32)
        grad_norm = torch.where(ok, found["grad_norm"], math.nan).detach()
        return StepResult(grad_norm, status, loss.detach())

    def before_optimizer_step(self) -> None:
        """Lightning's ``on_before_optimizer_step`` (after the backward closure and, with a
        scaler, after it has unscaled the gradients): :meth:`step` takes the gradient norm
        and decides the skip here."""
        if self._before_step is not None:
            self._before_step()

    def check_batch(
        self,
        module: pl.LightningModule,
        steps: dict[str, StepResult],
        scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        """Count the batch's skipped steps (``steps``: one per network, ``"d"`` / ``"g"``):
        their statuses are reduced once across ranks (max, so every rank takes the same
        decision) and read on the host once (the batch's only host sync with a fused
        optimiser). A bad batch adds one to ``module.skipped_batches``; the
        ``max_bad_batches``-th in a row raises :class:`NonFiniteLossError` after saving the
        last good state."""
        names = list(steps)
        flags = torch.stack([steps[name].status for name in names])
        if _attached(module):
            flags = module.trainer.strategy.reduce(flags, reduce_op="max")
        codes = [int(code) for code in flags.tolist()]  # the batch's host sync
        overflowed = [n for n, code in zip(names, codes, strict=True) if code == OVERFLOW]
        bad = [n for n, code in zip(names, codes, strict=True) if code == NON_FINITE]
        if overflowed:
            self.overflow_steps += len(overflowed)
            active = self.active_scaler(module, scaler)
            if active is not None and active.get_scale() < 1.0:
                bad += overflowed
        if not bad:
            if not overflowed:
                self.bad_batches_in_a_row = 0
            return
        module.skipped_batches += 1
        self.bad_batches_in_a_row += 1
        batch = module.trainer.fit_loop.epoch_loop.total_batch_idx if _attached(module) else 0
        rank_zero_warn(
            f"non-finite {' and '.join(bad)} loss/gradient at batch {batch}: "
            f"step skipped ({self.bad_batches_in_a_row} in a row)"
        )
        if self.bad_batches_in_a_row >= self.max_bad_batches:
            saved = _save_last_good_checkpoint(module)
            last = bad[-1]
            raise NonFiniteLossError(
                f"{self.bad_batches_in_a_row} consecutive non-finite losses (last: {last} "
                f"loss {steps[last].loss.item()}); the weights were not updated by them"
                + (f"; last good state saved to {saved}" if saved else "")
            )

"""The GAN LightningModule: one discriminator step, then one generator step, per batch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from inpaintgan.checkpoints import CHECKPOINT_KEY, checkpoint_metadata
from inpaintgan.metrics import InpaintingMetrics, composite
from inpaintgan.models.base import GeneratorOutput

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class NonFiniteLossError(RuntimeError):
    """Raised after too many consecutive batches with a non-finite loss or gradient."""


class InpaintingModule(pl.LightningModule):
    """Trains any variant (paper / shiftnet / ce) with manual GAN optimisation.

    Per batch: the discriminator learns real vs the detached composite, then the generator
    minimises the weighted loss terms of its variant (``loss.generator_terms``). A batch whose
    loss or gradient is not finite is skipped (weights untouched) and counted; after
    ``max_bad_steps`` such batches in a row training stops with :class:`NonFiniteLossError`.
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
    ) -> None:
        super().__init__()
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
        if channels_last not in (True, False, "auto"):
            raise ValueError(f"channels_last must be true, false or auto, got {channels_last!r}")
        self.channels_last = channels_last
        self.compile_networks_on_setup = compile
        self.val_metrics = InpaintingMetrics(hole=True)  # psnr, ssim, hole_psnr, hole_l1
        self.bad_steps_in_a_row = 0
        self.register_buffer("skipped_batches", torch.zeros((), dtype=torch.long))
        self.wandb_run_id: str | None = None

    # ---------------------------------------------------------------------- speed
    def use_channels_last(self, device: torch.device) -> bool:
        """Whether to train in channels_last: ``auto`` means on CUDA (tensor cores want NHWC;
        on the CPU oneDNN is faster with NCHW here)."""
        if self.channels_last == "auto":
            return device.type == "cuda"
        return bool(self.channels_last)

    def apply_memory_format(self, device: torch.device) -> None:
        """Put every parameter in channels_last if configured (convolutions then produce
        channels_last activations whatever the layout of the input batch)."""
        if self.use_channels_last(device):
            self.to(memory_format=torch.channels_last)

    def compile_networks(self) -> None:
        """``torch.compile`` the generator and the discriminator in place (``nn.Module.compile``:
        parameters and checkpoint keys stay the same)."""
        self.generator.compile()
        if self.discriminator is not None:
            self.discriminator.compile()

    def setup(self, stage: str) -> None:
        """Memory format and compilation for the device the Trainer will run on (once: a
        test after fit calls setup again)."""
        self.apply_memory_format(self.trainer.strategy.root_device)
        if self.compile_networks_on_setup:
            self.compile_networks()
            self.compile_networks_on_setup = False

    def on_train_start(self) -> None:
        """A resumed optimiser state must have its parameters' strides (channels_last or not,
        the run that saved it may have differed): fused Adam pairs elements by memory order."""
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    state = optimizer.state.get(param, {})
                    for key, value in state.items():
                        if (
                            isinstance(value, Tensor)
                            and value.shape == param.shape
                            and value.stride() != param.stride()
                        ):
                            state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)

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

    def discriminator_terms(
        self, image: Tensor, fake: Tensor, mask: Tensor
    ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """The discriminator's loss terms for real ``image`` vs ``fake`` (the detached
        composite), both seen through the same ``mask``, with the real and fake logits."""
        real_logits = self.discriminate(image, mask)
        fake_logits = self.discriminate(fake, mask)
        return self.loss.discriminator_terms(real_logits, fake_logits), real_logits, fake_logits

    def generator_terms(
        self, image: Tensor, mask: Tensor, gen: GeneratorOutput, comp: Tensor
    ) -> dict[str, Tensor]:
        """The variant's generator loss terms (eq. 9): D judges the composite, the guidance
        target comes from an encoder-only pass over the ground truth."""
        target = (
            self.generator.guidance_target(image, mask) if self.loss.guidance_weight > 0 else None
        )
        fake_logits = self.discriminate(comp, mask) if self.uses_discriminator else None
        return self.loss.generator_terms(
            output=gen.image,
            target=image,
            mask=mask,
            fake_logits=fake_logits,
            gen=gen,
            guidance_target=target,
        )

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        started = time.perf_counter()
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        opt_g = optimizers[0]

        gen = self.generator(image, mask)
        comp = composite(gen.image, image, mask)
        logs: dict[str, Tensor] = {}

        if self.uses_discriminator:
            opt_d = optimizers[1]
            self.toggle_optimizer(opt_d)
            d_terms, real_logits, fake_logits = self.discriminator_terms(image, comp.detach(), mask)
            d_grad_norm = self._guarded_step(opt_d, d_terms["total"], self.discriminator, "d")
            self.untoggle_optimizer(opt_d)
            logs.update({f"train/d_{k}": v.detach() for k, v in d_terms.items()})
            logs["train/D_real"] = real_logits.detach().float().mean()
            logs["train/D_fake"] = fake_logits.detach().float().mean()
            logs["train/d_grad_norm"] = d_grad_norm

        self.toggle_optimizer(opt_g)
        g_terms = self.generator_terms(image, mask, gen, comp)
        grad_norm = self._guarded_step(opt_g, g_terms["total"], self.generator, "g")
        self.untoggle_optimizer(opt_g)
        logs.update({f"train/g_{k}": v.detach() for k, v in g_terms.items()})
        logs["train/g_grad_norm"] = grad_norm

        elapsed = time.perf_counter() - started
        logs["train/images_per_s"] = torch.tensor(image.shape[0] / max(elapsed, 1e-9))
        logs["train/skipped_batches"] = self.skipped_batches.float()
        for i, opt in enumerate(optimizers):
            logs[f"train/lr_{'gd'[i]}"] = torch.tensor(opt.param_groups[0]["lr"])
        self.log_dict(logs, prog_bar=False, on_step=True, on_epoch=False)
        self.log("g_total", g_terms["total"].detach(), prog_bar=True, on_step=True, logger=False)

    def _guarded_step(self, optimizer: Any, total: Tensor, network: nn.Module, name: str) -> Tensor:
        """Backward, clip, step; skipped when loss or gradient is not finite (all ranks agree)."""
        optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(total.detach()).item())
        finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        grad_norm = torch.tensor(float("nan"))
        if finite:
            self.manual_backward(total)
            max_norm = self.grad_clip if self.grad_clip else math.inf
            grad_norm = torch.nn.utils.clip_grad_norm_(network.parameters(), max_norm)
            finite = bool(torch.isfinite(grad_norm).item())
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            optimizer.step()
            if name == "g":
                self.bad_steps_in_a_row = 0
            return grad_norm.detach()
        optimizer.zero_grad(set_to_none=True)
        self.skipped_batches += 1
        self.bad_steps_in_a_row += 1
        rank_zero_warn(
            f"non-finite {name} loss/gradient at batch {self._batches_seen()}: "
            f"step skipped ({self.bad_steps_in_a_row} in a row)"
        )
        if self.bad_steps_in_a_row >= self.max_bad_steps:
            saved = self._save_last_good_checkpoint()
            raise NonFiniteLossError(
                f"{self.bad_steps_in_a_row} consecutive non-finite losses (last: {name} loss "
                f"{total.detach().item()}); the weights were not updated by them"
                + (f"; last good state saved to {saved}" if saved else "")
            )
        return grad_norm

    def _save_last_good_checkpoint(self) -> str | None:
        """Skipped steps never touched the weights, so the current state is the last good one."""
        callback = self.trainer.checkpoint_callback
        if callback is None or not getattr(callback, "dirpath", None):
            return None
        path = f"{callback.dirpath}/last.ckpt"
        self.trainer.save_checkpoint(path)
        return path

    def _batches_seen(self) -> int:
        return self.trainer.fit_loop.epoch_loop._batches_that_stepped if self._trainer else 0

    def on_train_epoch_end(self) -> None:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    # ----------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        image, mask = batch["image"], batch["mask"]
        gen = self.generator(image, mask)
        comp = composite(gen.image, image, mask)
        self.val_metrics.update(comp, image, mask)
        terms = self.generator_terms(image, mask, gen, comp)
        self.log_dict(
            {f"val/g_{k}": v for k, v in terms.items()},
            on_step=False,
            on_epoch=True,
            sync_dist=True,
            batch_size=image.shape[0],
        )

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.log_dict({f"val/{k}": v for k, v in values.items()}, prog_bar=True, sync_dist=False)
        self.val_metrics.reset()

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

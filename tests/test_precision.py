"""Precision and the training step's plumbing: VGG16 under autocast with fp32 Grams, the
GradScaler (16-mixed) path of the guarded step with and without a Trainer, one host read
per batch, images/s between batch starts, channels_last through the norms, and the GPU
defaults of the trainer configs."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from helpers import TINY, compose_train, tiny_batch
from hydra.utils import instantiate
from pytorch_lightning.plugins.precision import MixedPrecision

from inpaintgan.builders import build_module
from inpaintgan.errors import UserError
from inpaintgan.losses import InpaintingLoss, gram_matrix
from inpaintgan.models.base import InstanceNorm2d, make_norm
from inpaintgan.models.vgg import VGG16Features
from inpaintgan.module import InpaintingModule
from inpaintgan.throughput import Throughput
from inpaintgan.trainer import matmul_precision_for

# No style term (no VGG) and the dense shift: small, fast, and no host reads of their own.
FAST = ["loss.style_weight=0", "model.generator.shift_method=dense"]


def small_module(tmp_path: Path, *overrides: str) -> InpaintingModule:
    cfg = compose_train([*TINY, *FAST, *overrides], tmp_path)
    torch.manual_seed(0)
    return build_module(cfg, {})


def guarded_g_step(
    module: InpaintingModule,
    opt_g: torch.optim.Optimizer,
    loss: torch.Tensor,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """G's step alone through the module's guard, then the guard's check of that batch (as
    ``gan_step`` runs them for both networks); returns the gradient norm."""
    result = module.guard.step(module, opt_g, loss, module.generator, scaler)
    module.guard.check_batch(module, {"g": result}, scaler)
    return result.grad_norm


def generator_params(module: InpaintingModule) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.generator.parameters()]


def unchanged(before: list[torch.Tensor], module: InpaintingModule) -> bool:
    after = module.generator.parameters()
    return all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


# ------------------------------------------------------------------ style loss precision
def test_vgg_convolutions_follow_autocast_and_the_gram_stays_float32() -> None:
    vgg = VGG16Features(layers=("relu1_2", "relu2_2"), weights="random")
    loss = InpaintingLoss(style_features=vgg, adv_weight=0, guidance_weight=0)
    conv_dtypes: list[torch.dtype] = []
    for module in vgg.features:
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(lambda m, i, o: conv_dtypes.append(o.dtype))
    output, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        style = loss.style_term(output, target)
    assert set(conv_dtypes) == {torch.bfloat16}
    assert style.dtype == torch.float32 and math.isfinite(style)

    conv_dtypes.clear()
    full = loss.style_term(output, target)  # no autocast: float32 throughout
    assert set(conv_dtypes) == {torch.float32}
    assert torch.allclose(style, full, rtol=0.1)  # same loss, bf16 convolutions

    # What the backward keeps under autocast: bf16 activations and features; float32 only
    # for the [B, C, C] Gram differences (the L1), no float32 copy of a feature map.
    saved: list[torch.Tensor] = []
    output.requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss.style_term(output, target)
    large = [t for t in saved if t.is_floating_point() and t.numel() >= 32 * 32]
    wide = [t for t in large if t.dtype != torch.bfloat16]
    assert any(t.dtype == torch.bfloat16 and t.dim() == 4 for t in large)
    assert wide and all(t.dim() == 3 and t.shape[1] == t.shape[2] for t in wide), [
        (t.dtype, tuple(t.shape)) for t in wide
    ]


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_matrix_is_float32_with_exact_gradients(layout: torch.memory_format) -> None:
    double = torch.randn(2, 3, 4, 5, dtype=torch.float64).to(memory_format=layout)
    assert torch.autograd.gradcheck(gram_matrix, (double.requires_grad_(),))
    feature = torch.randn(2, 8, 6, 6).to(torch.bfloat16).to(memory_format=layout)
    feature.requires_grad_(True)
    weight = torch.randn(2, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gram = gram_matrix(feature)
        (gram * weight).sum().backward()
    flat = feature.detach().float().flatten(2).requires_grad_(True)
    reference = torch.bmm(flat, flat.transpose(1, 2)) / (8 * 36)  # float32, autocast off
    (reference * weight).sum().backward()
    assert gram.dtype == torch.float32 and torch.allclose(gram, reference)
    assert feature.grad.dtype == torch.bfloat16
    assert torch.allclose(feature.grad.float().flatten(2), flat.grad, rtol=1e-2, atol=1e-3)


# ------------------------------------------------------------- the scaler, no Trainer
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "foreach"])
def test_scaler_overflow_is_skipped_backed_off_and_not_counted(tmp_path: Path, fused: bool) -> None:
    optim = [] if fused else ["optim.generator.fused=false", "+optim.generator.foreach=true"]
    module = small_module(tmp_path, "optim.grad_clip=0.001", *optim)
    opt_g, _ = module.configure_optimizers()
    assert opt_g.defaults["fused"] is fused
    batch = tiny_batch()
    # A scale so large the scaled gradients overflow float32; one backoff brings it to 3e8.
    scaler = torch.amp.GradScaler("cpu", init_scale=3e38, backoff_factor=1e-30)
    before = generator_params(module)

    loss, _ = module.generator_loss(batch)
    norm = guarded_g_step(module, opt_g, loss, scaler)
    assert math.isnan(norm) and unchanged(before, module)
    assert all(s["step"] == 0 for s in opt_g.state.values())  # Adam's state untouched
    assert scaler.get_scale() == pytest.approx(3e8)  # backed off in update()
    assert module.guard.overflow_steps == 1
    assert int(module.skipped_batches) == 0 and module.guard.bad_batches_in_a_row == 0

    reference = copy.deepcopy(module)  # the same next step without a scaler: unscaled
    ref_opt, _ = reference.configure_optimizers()
    loss, _ = module.generator_loss(batch)
    norm = guarded_g_step(module, opt_g, loss, scaler)
    ref_loss, _ = reference.generator_loss(batch)
    ref_norm = guarded_g_step(reference, ref_opt, ref_loss)
    assert torch.equal(loss.detach(), ref_loss.detach())
    # The norm (and the clipping) saw unscaled gradients: those of the unscaled step.
    assert float(norm) == pytest.approx(float(ref_norm), rel=1e-4) and float(norm) > 0.001
    grads = [p.grad for p in module.generator.parameters() if p.grad is not None]
    assert float(torch.nn.utils.get_total_norm(grads)) == pytest.approx(0.001, rel=1e-3)
    assert not unchanged(before, module)
    for a, b in zip(module.generator.parameters(), reference.generator.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)  # the same update as the unscaled step
    assert module.guard.overflow_steps == 1 and int(module.skipped_batches) == 0


def test_with_a_scaler_a_non_finite_loss_still_counts_as_bad(tmp_path: Path) -> None:
    module = small_module(tmp_path, "max_bad_batches=2")
    opt_g, _ = module.configure_optimizers()
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    before = generator_params(module)
    for expected in (1, 2):
        loss, _ = module.generator_loss(tiny_batch())
        bad = loss * float("nan")
        if expected == 1:
            with pytest.warns(UserWarning, match="non-finite g loss"):
                guarded_g_step(module, opt_g, bad, scaler)
        else:
            with pytest.warns(UserWarning), pytest.raises(Exception, match="2 consecutive"):
                guarded_g_step(module, opt_g, bad, scaler)
        assert int(module.skipped_batches) == expected
    assert unchanged(before, module) and module.guard.overflow_steps == 0


def test_overflows_count_as_bad_once_the_scale_is_below_one(tmp_path: Path) -> None:
    module = small_module(tmp_path)
    opt_g, _ = module.configure_optimizers()
    scaler = torch.amp.GradScaler("cpu", init_scale=3e38, backoff_factor=1e-39)
    loss, _ = module.generator_loss(tiny_batch())
    with pytest.warns(UserWarning, match="non-finite g loss"):
        guarded_g_step(module, opt_g, loss, scaler)
    assert scaler.get_scale() < 1.0
    assert module.guard.overflow_steps == 1 and int(module.skipped_batches) == 1


def test_a_gan_step_reads_the_host_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = small_module(tmp_path)
    opt_g, opt_d = module.configure_optimizers()
    batch = tiny_batch()
    module.gan_step(batch, opt_g, opt_d)  # warm-up: lazy initialisation may read the host
    reads: list[str] = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    before = generator_params(module)
    logs = module.gan_step(batch, opt_g, opt_d)
    monkeypatch.undo()
    assert reads == ["tolist"]  # the guard's check_batch; the skip decisions stayed on the device
    assert not unchanged(before, module) and math.isfinite(logs["g_grad_norm"])


# ------------------------------------------------------------ the scaler, with Lightning
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "foreach"])
def test_lightning_16_mixed_backs_off_on_overflow_and_trains(tmp_path: Path, fused: bool) -> None:
    # Lightning unscales a non-fused optimiser's gradients itself; a fused one's, the module.
    optim = [] if fused else [f"optim.{n}.fused=false" for n in ("generator", "discriminator")]
    cfg = compose_train([*TINY, *FAST, *optim], tmp_path)
    torch.manual_seed(0)
    module = build_module(cfg, {})
    datamodule = instantiate(cfg.data, mask=instantiate(cfg.mask), eval_mask=None, seed=0)
    # float16 gradients overflow at this scale; each backoff divides it by 2**16.
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**40, backoff_factor=2.0**-16)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before = generator_params(module)
    autocast_dtypes: list[torch.dtype] = []
    module.generator.down[1].register_forward_hook(lambda m, i, o: autocast_dtypes.append(o.dtype))
    trainer.fit(module, datamodule=datamodule)
    assert trainer.precision_plugin.scaler is scaler and torch.float16 in autocast_dtypes
    assert module.guard.overflow_steps >= 1  # the first steps overflowed and were skipped
    assert 1.0 <= scaler.get_scale() <= 2.0**24
    assert int(module.skipped_batches) == 0  # overflows are not bad batches
    assert trainer.global_step == 4  # 2 optimiser steps per batch, skipped or not
    assert not unchanged(before, module)  # the later, finite steps trained
    assert all(torch.isfinite(p).all() for p in module.parameters())


# --------------------------------------------------------------------------- images/s
def test_throughput_is_measured_between_batch_starts_over_the_window() -> None:
    clock = Throughput(window=2)
    assert clock.batch_started(4, now=0.0) is None  # no interval yet
    assert clock.batch_started(4, now=1.0) == pytest.approx(4.0)
    assert clock.batch_started(4, now=3.0) == pytest.approx(8 / 3)
    assert clock.batch_started(4, now=3.5) == pytest.approx(8 / 2.5)  # oldest one dropped
    clock.restart()  # validation in between: that gap is not a batch
    assert clock.batch_started(4, now=100.0) == pytest.approx(8 / 2.5)
    assert clock.batch_started(2, now=100.5) == pytest.approx(8 / 1.0)


# ---------------------------------------------------------------------- channels_last
def test_instance_norm_keeps_channels_last_and_its_values() -> None:
    x = torch.randn(2, 8, 6, 6)
    norm = make_norm("instance", 8)
    assert isinstance(norm, InstanceNorm2d)
    out = norm(x.to(memory_format=torch.channels_last))
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    assert torch.allclose(out, torch.nn.InstanceNorm2d(8)(x), atol=1e-6)
    assert norm(x).is_contiguous()  # NCHW stays NCHW


@pytest.mark.parametrize("model", ["paper", "shiftnet"])
def test_generator_activations_stay_channels_last(tmp_path: Path, model: str) -> None:
    module = small_module(tmp_path, f"model={model}")
    generator = module.generator.to(memory_format=torch.channels_last)
    lost: list[str] = []

    def check(name: str, output: object) -> None:
        out = getattr(output, "image", output)
        if isinstance(out, torch.Tensor) and out.dim() == 4 and min(out.shape[1:]) > 1:
            if not out.is_contiguous(memory_format=torch.channels_last):
                lost.append(f"{name}: {tuple(out.shape)}")

    for name, layer in generator.named_modules():
        layer.register_forward_hook(lambda m, i, o, name=name: check(name, o))
    batch = tiny_batch()
    image = batch["image"].to(memory_format=torch.channels_last)
    mask = batch["mask"].to(memory_format=torch.channels_last)
    with torch.no_grad():
        generator(image, mask)
    assert not lost, f"NCHW activations in {model}: {lost}"


# ------------------------------------------------------------- GPU trainer defaults
def test_gpu_trainers_autotune_and_use_tf32_matmuls(tmp_path: Path) -> None:
    for trainer in ("gpu", "ddp"):
        cfg = compose_train([f"trainer={trainer}"], tmp_path)
        assert cfg.trainer.benchmark is True and cfg.trainer.precision == "bf16-mixed"
        assert matmul_precision_for(cfg.matmul_precision, cfg.trainer.accelerator) == "high"
    cfg = compose_train(["trainer=cpu"], tmp_path)
    assert cfg.trainer.benchmark is False
    assert matmul_precision_for(cfg.matmul_precision, cfg.trainer.accelerator) is None
    assert matmul_precision_for(None, "gpu") is None
    assert matmul_precision_for("medium", "cpu") == "medium"
    with pytest.raises(UserError, match="matmul_precision=fast"):
        matmul_precision_for("fast", "gpu")

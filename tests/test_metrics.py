"""Metrics against an independent computation (scikit-image) on known images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintgan.metrics import (
    PSNR_CAP,
    CompositePSNR,
    InpaintingMetrics,
    composite,
    hole_l1,
    hole_psnr,
    hole_ratio,
    psnr_per_image,
    ssim_per_image,
)


def _pair(seed: int = 0, shape: tuple[int, ...] = (3, 3, 40, 56)) -> tuple[torch.Tensor, ...]:
    """A smooth-ish target and a noisy prediction, both in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=g)
    target = torch.nn.functional.avg_pool2d(target, 3, 1, 1)  # some structure for SSIM
    pred = (target + 0.08 * torch.randn(shape, generator=g)).clamp(0, 1)
    return pred, target


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).double().numpy()


def _skimage_ssim(pred: torch.Tensor, target: torch.Tensor) -> float:
    return structural_similarity(
        _hwc(target),
        _hwc(pred),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=2,
    )


def test_psnr_and_ssim_match_scikit_image() -> None:
    pred, target = _pair()
    psnr, ssim = psnr_per_image(pred, target), ssim_per_image(pred, target)
    assert psnr.shape == ssim.shape == (3,)
    for i in range(3):
        expected_psnr = peak_signal_noise_ratio(_hwc(target[i]), _hwc(pred[i]), data_range=1.0)
        assert psnr[i].item() == pytest.approx(expected_psnr, abs=1e-4)
        assert ssim[i].item() == pytest.approx(_skimage_ssim(pred[i], target[i]), abs=1e-5)


def test_known_values_by_hand() -> None:
    target = torch.zeros(1, 3, 16, 16)
    pred = torch.full_like(target, 0.1)  # MSE 0.01 -> 20 dB
    assert psnr_per_image(pred, target).item() == pytest.approx(20.0, abs=1e-4)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    comp = composite(pred, target, mask)
    assert torch.equal(comp[..., :4, :], target[..., :4, :])
    assert torch.allclose(comp[..., 4:12, 4:12], pred[..., 4:12, 4:12])
    assert hole_ratio(mask).item() == pytest.approx(0.25)
    assert hole_l1(comp, target, mask).item() == pytest.approx(0.1, abs=1e-6)
    assert hole_psnr(comp, target, mask).item() == pytest.approx(20.0, abs=1e-4)
    # Over the whole image a quarter of the pixels carry the error: MSE 0.0025 -> ~26.02 dB.
    assert psnr_per_image(comp, target).item() == pytest.approx(10 * math.log10(400), abs=1e-4)


def test_perfect_output_is_capped_psnr_and_ssim_one() -> None:
    _, target = _pair()
    mask = torch.ones(3, 1, 40, 56)
    assert torch.equal(psnr_per_image(target, target), torch.full((3,), PSNR_CAP))
    assert torch.allclose(ssim_per_image(target, target), torch.ones(3))
    assert torch.equal(hole_psnr(target, target, mask), torch.full((3,), PSNR_CAP))
    metrics = InpaintingMetrics()
    metrics.update(target, target, mask)
    values = metrics.compute()
    assert math.isfinite(values["psnr"].item()) and values["psnr"].item() == PSNR_CAP
    assert values["ssim"].item() == pytest.approx(1.0)


def test_empty_hole_gives_nan_hole_metrics_left_out_of_means() -> None:
    pred, target = _pair(shape=(2, 3, 16, 16))
    mask = torch.zeros(2, 1, 16, 16)
    mask[1, :, 2:6, 2:6] = 1
    assert torch.isnan(hole_psnr(pred, target, mask)[0])
    assert torch.isnan(hole_l1(pred, target, mask)[0])
    metrics = InpaintingMetrics(hole=True)
    metrics.update(pred, target, mask)
    values = metrics.compute()
    assert values["hole_l1"].item() == pytest.approx(hole_l1(pred, target, mask)[1].item())


def test_aggregator_is_the_mean_of_per_image_values_over_batches() -> None:
    pred, target = _pair(seed=3, shape=(5, 3, 32, 32))
    mask = torch.zeros(5, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    metrics = InpaintingMetrics(hole=True, prefix="val/")
    metrics.update(pred[:2], target[:2], mask[:2])
    metrics.update(pred[2:], target[2:], mask[2:])
    values = metrics.compute()
    comp = composite(pred, target, mask)
    assert set(values) == {"val/psnr", "val/ssim", "val/hole_psnr", "val/hole_l1"}
    assert values["val/psnr"].item() == pytest.approx(psnr_per_image(comp, target).mean().item())
    assert values["val/ssim"].item() == pytest.approx(ssim_per_image(comp, target).mean().item())
    # update() composites itself: passing the composite instead of the raw output is the same.
    again = InpaintingMetrics()
    again.update(comp, target, mask)
    assert again.compute()["psnr"].item() == pytest.approx(values["val/psnr"].item())
    metrics.reset()
    assert metrics["psnr"].count.item() == 0


def test_states_reduce_by_sum_for_ddp() -> None:
    pred, target = _pair(shape=(4, 3, 16, 16))
    mask = torch.ones(4, 1, 16, 16)
    first, second = CompositePSNR(), CompositePSNR()
    first.update(pred[:1], target[:1], mask[:1])
    second.update(pred[1:], target[1:], mask[1:])
    first.merge_state(second)  # what the all-reduce of the (sum) states amounts to under DDP
    assert first.compute().item() == pytest.approx(psnr_per_image(pred, target).mean().item())
    assert {fn.__name__ for fn in first._reductions.values()} == {"dim_zero_sum"}


def test_half_precision_inputs_are_scored_in_float32() -> None:
    pred, target = _pair(shape=(1, 3, 24, 24))
    full = psnr_per_image(pred, target)
    half = psnr_per_image(pred.half(), target.half())
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(full.item(), abs=0.05)


def test_composite_lives_beside_generator_output_and_metrics_reexports_it() -> None:
    from inpaintgan.models import base

    assert composite is base.composite
    output, image = torch.full((1, 3, 2, 2), 0.25), torch.full((1, 3, 2, 2), 0.75)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    comp = base.composite(output, image, mask)
    assert comp[0, :, 0, 0].eq(0.25).all() and comp[0, :, 0, 1].eq(0.75).all()
    assert comp[0, :, 1, 1].eq(0.25).all() and comp[0, :, 1, 0].eq(0.75).all()

"""Image-quality metrics of inpainting, computed on the composite (known pixels pasted back).

Conventions (docs/architecture.md): images ``[B, 3, H, W]`` in ``[0, 1]``, masks
``[B, 1, H, W]`` with ``1`` = missing. Every function returns one value per image; averages
are taken over images (the paper's Table 1 reports means of per-image PSNR / SSIM).

PSNR (paper eqs. 10-11) and SSIM (eq. 12: Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03,
over the three RGB channels) come from torchmetrics with ``data_range=1``; the SSIM map is
averaged over its valid region, as scikit-image and Wang et al.'s code do (see
:func:`ssim_per_image`). Both equal scikit-image's values (tests/test_metrics.py).

A perfect output has MSE 0 and an infinite PSNR. Per-image PSNRs are therefore capped at
:data:`PSNR_CAP` dB (a difference of one 8-bit level in a single pixel of a 256x256 image
already scores about 101 dB, so the cap only touches (near) identical images) and means stay
finite. SSIM needs no special case: a perfect output scores exactly 1.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

# ``composite`` lives beside GeneratorOutput; imported here for the metrics and for callers
# that import it from its old home.
from inpaintgan.models.base import composite as composite

PSNR_CAP = 100.0
"""Upper bound of every per-image PSNR in dB (a perfect reconstruction scores this)."""

SSIM_WINDOW = 11
SSIM_KWARGS = {
    "gaussian_kernel": True,
    "sigma": 1.5,
    "kernel_size": SSIM_WINDOW,
    "k1": 0.01,
    "k2": 0.03,
}
"""The paper's SSIM (eq. 12); torchmetrics derives the Gaussian window (11) from sigma."""


def _as_float(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Metrics in float32 at least (half precision loses the small errors PSNR measures)."""
    return tuple(t.float() if t.dtype in (torch.float16, torch.bfloat16) else t for t in tensors)


def psnr_per_image(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB of each image over all pixels and channels, ``[B]``, capped at PSNR_CAP."""
    pred, target = _as_float(pred, target)
    psnr = peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return psnr.clamp(max=PSNR_CAP)


def ssim_per_image(pred: Tensor, target: Tensor) -> Tensor:
    """Mean SSIM of each image over its RGB channels, ``[B]`` (Gaussian 11x11, sigma 1.5).

    The SSIM map is torchmetrics'; it is averaged over the valid region only (the 5-pixel
    border whose windows would leave the image is excluded), as in Wang et al.'s reference
    code and scikit-image. Recent torchmetrics versions average the reflect-padded full map
    instead, which differs in the third decimal.
    """
    pred, target = _as_float(pred, target)
    _, ssim_map = structural_similarity_index_measure(
        pred, target, data_range=1.0, return_full_image=True, **SSIM_KWARGS
    )
    pad = SSIM_WINDOW // 2
    if min(ssim_map.shape[-2:]) > 2 * pad:
        ssim_map = ssim_map[..., pad:-pad, pad:-pad]
    return ssim_map.flatten(1).mean(1)


def hole_ratio(mask: Tensor) -> Tensor:
    """Fraction of missing pixels of each mask, ``[B]``."""
    return mask.float().flatten(1).mean(1)


def _hole_sum(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Sum of ``values`` ``[B, C, H, W]`` inside the hole and the number of values summed."""
    weight = mask.float().expand_as(values)
    return (values * weight).flatten(1).sum(1), weight.flatten(1).sum(1)


def hole_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute error inside the hole only, ``[B]``; NaN for an empty mask."""
    pred, target = _as_float(pred, target)
    total, count = _hole_sum((pred - target).abs(), mask)
    return total / count  # 0 / 0 = NaN: undefined without a hole


def hole_psnr(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """PSNR in dB inside the hole only, ``[B]``, capped at PSNR_CAP; NaN for an empty mask."""
    pred, target = _as_float(pred, target)
    total, count = _hole_sum((pred - target).square(), mask)
    mse = total / count
    return (-10 * torch.log10(mse)).clamp(max=PSNR_CAP)


class _PerImageMean(Metric):
    """Mean over images of a per-image score of the composite; DDP-reducible (sum, count).

    ``update(output, image, mask)`` composites ``output`` itself, so either the raw generator
    prediction or an already composited image may be passed. NaN scores (a hole metric on an
    empty mask) are left out of the mean.
    """

    is_differentiable = False
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def score(self, comp: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        """One value per image, ``[B]``."""
        raise NotImplementedError

    def update(self, output: Tensor, image: Tensor, mask: Tensor) -> None:
        values = self.score(composite(output, image, mask), image, mask).detach()
        valid = ~torch.isnan(values)
        self.total += values[valid].float().sum()
        self.count += valid.sum()

    def compute(self) -> Tensor:
        return self.total / self.count


class CompositePSNR(_PerImageMean):
    """Mean per-image PSNR (dB) of the composite against the ground truth."""

    higher_is_better = True

    def score(self, comp: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        return psnr_per_image(comp, image)


class CompositeSSIM(_PerImageMean):
    """Mean per-image SSIM of the composite against the ground truth."""

    higher_is_better = True

    def score(self, comp: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        return ssim_per_image(comp, image)


class HoleL1(_PerImageMean):
    """Mean per-image L1 error inside the hole."""

    higher_is_better = False

    def score(self, comp: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        return hole_l1(comp, image, mask)


class HolePSNR(_PerImageMean):
    """Mean per-image PSNR (dB) inside the hole."""

    higher_is_better = True

    def score(self, comp: Tensor, image: Tensor, mask: Tensor) -> Tensor:
        return hole_psnr(comp, image, mask)


class InpaintingMetrics(MetricCollection):
    """PSNR / SSIM of the composite (plus hole L1 / PSNR with ``hole=True``), DDP-reducible.

    Usage (e.g. in a LightningModule's validation)::

        metrics = InpaintingMetrics()
        metrics.update(output, image, mask)   # raw prediction or composite, per batch
        metrics.compute()                     # {"psnr": tensor, "ssim": tensor}, synced
        metrics.reset()

    It is a ``torchmetrics.MetricCollection``: ``prefix="val/"`` names the keys, and it moves
    with its module (``.to(device)``) and reduces across processes on ``compute``.
    """

    def __init__(self, hole: bool = False, prefix: str | None = None) -> None:
        metrics: dict[str, Metric] = {"psnr": CompositePSNR(), "ssim": CompositeSSIM()}
        if hole:
            metrics.update(hole_psnr=HolePSNR(), hole_l1=HoleL1())
        super().__init__(metrics, prefix=prefix, compute_groups=False)

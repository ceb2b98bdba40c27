"""The paper's losses (Sec. 1.3), one function per equation, and the weighted total (eq. 9).

* eq. 5, reconstruction: :func:`reconstruction_loss` (L1; L2 for the Context Encoder), and
  Shift-Net's second L1 over the hole, :func:`hole_reconstruction_loss` (optionally
  discounted by :func:`spatial_discount`).
* eq. 6, adversarial: :func:`generator_adversarial_loss`, :func:`discriminator_adversarial_losses`
  (vanilla = BCE with logits, the paper's; ``lsgan`` and ``hinge`` as options).
* eq. 7, guidance: :func:`guidance_loss`, masked to the feature-level hole.
* eq. 8, style: :func:`gram_matrix`, :func:`style_loss` on VGG16 features.
* eq. 9: :class:`InpaintingLoss`, every term returned unweighted and in the weighted "total".

Reconstruction and style use the raw generator output; the discriminator (fed by the
LightningModule) sees the composite. Every term is computed in float32; only the VGG16
convolutions of the style term follow autocast (:meth:`InpaintingLoss.style_term`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintgan.models.base import GeneratorOutput

__all__ = [
    "GAN_MODES",
    "GUIDANCE_NORMALIZATIONS",
    "PIXEL_RANGES",
    "InpaintingLoss",
    "discriminator_adversarial_losses",
    "generator_adversarial_loss",
    "gram_matrix",
    "guidance_loss",
    "hole_reconstruction_loss",
    "reconstruction_loss",
    "spatial_discount",
    "style_loss",
]

GAN_MODES = ("vanilla", "lsgan", "hinge")
#: Pixel range the reconstruction terms are computed in: ``unit`` [0, 1] (the API's) or
#: ``signed`` [-1, 1] (the network's, Shift-Net's and pix2pix's: an L1 twice as large).
PIXEL_RANGES = ("signed", "unit")
GanMode = Literal["vanilla", "lsgan", "hinge"]


def _pixel_error(output: Tensor, target: Tensor, kind: str) -> Tensor:
    diff = output.float() - target.float()
    if kind == "l1":
        return diff.abs()
    if kind == "l2":
        return diff.square()
    raise ValueError(f"reconstruction must be l1 or l2, got {kind!r}")


def reconstruction_loss(
    output: Tensor,
    target: Tensor,
    kind: Literal["l1", "l2"] = "l1",
    mask: Tensor | None = None,
    known_weight: float = 1.0,
) -> Tensor:
    """eq. 5: mean absolute (``l1``) or squared (``l2``) error over all pixels and channels.

    ``known_weight`` (with ``mask`` ``[B, 1, H, W]``, 1 = missing) scales the error on known
    pixels: Context Encoder weights its overlap border ×10. Where a generator copies the
    known pixels through (the ``ce`` center patch) their error is 0 and the weight is moot.
    """
    error = _pixel_error(output, target, kind)
    if known_weight != 1.0:
        if mask is None:
            raise ValueError("known_weight != 1 needs the mask")
        hole = mask.to(torch.float32)
        error = error * (hole + known_weight * (1.0 - hole))
    return error.mean()


def spatial_discount(mask: Tensor, gamma: float) -> Tensor:
    """``gamma ** d`` inside the hole, 0 outside: ``d`` is the chessboard distance (pixels)
    from the nearest known pixel, 0 on the hole's border row (Yu et al. 2018's spatial
    discount, which Shift-Net's discounted hole loss uses). ``[B, 1, H, W]`` → same shape.

    Computed by a fixed number of 3×3 erosions of the hole, ``ceil(max(H, W) / 2)``, with no
    data-dependent exit (no host read in the training step): exact for every hole whose
    pixels lie within that distance of a known pixel (any hole with known pixels on two
    opposite sides, every center / box / stroke mask of the package); pixels deeper than that
    keep the last factor, ``gamma ** ceil(max(H, W) / 2)``.
    """
    hole = (mask > 0.5).to(torch.float32)
    weight = torch.zeros_like(hole)
    current = hole
    factor = 1.0
    for _ in range((max(hole.shape[-2:]) + 1) // 2):
        inner = -F.max_pool2d(-current, kernel_size=3, stride=1, padding=1)  # erode
        weight = weight + factor * (current - inner)  # the ring at distance `step`
        current, factor = inner, factor * gamma
    return weight + factor * current


def hole_reconstruction_loss(
    output: Tensor,
    target: Tensor,
    mask: Tensor,
    kind: Literal["l1", "l2"] = "l1",
    discount_gamma: float | None = None,
) -> Tensor:
    """Shift-Net's second reconstruction term: the error on hole pixels only.

    ``sum over hole pixels of w·|output - target|`` divided by the number of *all* pixels and
    channels, as Shift-Net's ``L1Loss(fake * mask, real * mask)``: with weight 4 next to the
    whole-image term (its code: 400 next to 100) a hole pixel weighs 5× a known one.
    ``w = 1`` (plain) or :func:`spatial_discount` (``discount_gamma``: Shift-Net's
    "discounted" default). Known pixels neither contribute nor receive gradient.
    """
    hole = (mask > 0.5).to(torch.float32)
    weight = hole if discount_gamma is None else spatial_discount(mask, discount_gamma)
    return (_pixel_error(output, target, kind) * weight).mean()


def generator_adversarial_loss(fake_logits: Tensor, mode: GanMode = "vanilla") -> Tensor:
    """eq. 6, generator side: make D call the fake real.

    ``vanilla``: the non-saturating form ``-log D(G(I))`` (BCE with target 1);
    ``lsgan``: ``(D - 1)²``; ``hinge``: ``-D``. Means over every logit.
    """
    logits = fake_logits.float()
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    if mode == "lsgan":
        return (logits - 1.0).square().mean()
    if mode == "hinge":
        return -logits.mean()
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")


def discriminator_adversarial_losses(
    real_logits: Tensor, fake_logits: Tensor, mode: GanMode = "vanilla"
) -> tuple[Tensor, Tensor]:
    """eq. 6, discriminator side: ``(real term, fake term)``.

    ``vanilla``: ``-log D(x)``, ``-log(1 - D(G(I)))``; ``lsgan``: ``(D(x) - 1)²``,
    ``D(G(I))²``; ``hinge``: ``relu(1 - D(x))``, ``relu(1 + D(G(I)))``. Means over logits.
    """
    real, fake = real_logits.float(), fake_logits.float()
    if mode == "vanilla":
        return (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
            F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)),
        )
    if mode == "lsgan":
        return (real - 1.0).square().mean(), fake.square().mean()
    if mode == "hinge":
        return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()
    raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")


GUIDANCE_NORMALIZATIONS = ("all", "hole")


def guidance_loss(
    feature: Tensor, target: Tensor, hole: Tensor, normalization: str = "all"
) -> Tensor:
    """eq. 7: squared L2 between decoder feature and ground-truth encoder feature, hole only.

    Shapes: feature, target ``[B, C, h, w]``; hole bool ``[B, 1, h, w]`` (True = missing).
    The sum over hole positions and channels is divided by ``normalization``:

    * ``all`` (default): every position and channel, ``B·C·h·w``, as Shift-Net's ``InnerCos``
      (an ``MSELoss`` over the whole masked feature map): the term grows with the hole;
    * ``hole``: the hole positions only (a mean over the hole), which weighs a small hole as
      much as a large one: ``h·w / hole positions`` times ``all`` (4× for the center hole at
      the shift level, more for strokes).

    0 when there is no hole. Positions outside the hole neither contribute nor receive
    gradient; the target gets none.
    """
    if feature.shape != target.shape:
        raise ValueError(f"guidance shapes differ: {tuple(feature.shape)} vs {tuple(target.shape)}")
    if normalization not in GUIDANCE_NORMALIZATIONS:
        raise ValueError(
            f"guidance normalization must be one of {GUIDANCE_NORMALIZATIONS}, "
            f"got {normalization!r}"
        )
    weight = hole.to(torch.float32)
    sq = (feature.float() - target.detach().float()).square()
    if normalization == "all":
        count = torch.tensor(float(feature.numel()), device=feature.device)
    else:
        count = weight.sum() * feature.shape[1]
    return (sq * weight).sum() / count.clamp_min(1.0)


class _Gram(torch.autograd.Function):
    """``F Fᵀ`` of ``[B, C, N]`` features of any dtype, computed in float32 (float64 stays
    float64), autocast off. Only the features themselves are kept for backward (VGG's ReLU
    keeps the same tensor: no extra memory), not their float32 copy, which is made again in
    backward: under bf16 autocast that copy was a quarter of what the style term kept."""

    @staticmethod
    def forward(ctx: Any, flat: Tensor) -> Tensor:
        ctx.save_for_backward(flat)
        with torch.autocast(flat.device.type, enabled=False):
            wide = flat.to(torch.promote_types(flat.dtype, torch.float32))
            return torch.bmm(wide, wide.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (flat,) = ctx.saved_tensors
        with torch.autocast(flat.device.type, enabled=False):
            wide = flat.to(grad.dtype)
            return torch.bmm(grad + grad.transpose(1, 2), wide).to(flat.dtype)


def gram_matrix(feature: Tensor) -> Tensor:
    """``[B, C, H, W]`` → ``[B, C, C]`` Gram matrix normalised by ``C·H·W``, in float32
    whatever the feature's dtype (the features are cast to float32 first, autocast off;
    ``torch.set_float32_matmul_precision``, the training config's ``matmul_precision``,
    decides whether TF32 may be used). ``flatten`` is a view in NCHW and channels_last."""
    b, c, h, w = feature.shape
    return _Gram.apply(feature.flatten(2)) / (c * h * w)


def style_loss(output_features: Sequence[Tensor], target_features: Sequence[Tensor]) -> Tensor:
    """eq. 8: mean over layers of the mean absolute difference of the Gram matrices."""
    if len(output_features) != len(target_features) or not output_features:
        raise ValueError("style_loss needs one target feature per output feature")
    terms = [
        (gram_matrix(o) - gram_matrix(t)).abs().mean()
        for o, t in zip(output_features, target_features, strict=True)
    ]
    return torch.stack(terms).mean()


class InpaintingLoss(nn.Module):
    """Weighted sum of the four terms (eq. 9) for the generator; the GAN loss for D.

    Args:
        rec_weight: λ_rec (1).
        hole_weight: weight of :func:`hole_reconstruction_loss` (0 = off; Shift-Net's code: 4
            relative to the whole-image term).
        hole_discount: ``gamma`` of the spatial discount of the hole term, or None (plain).
        known_weight: weight of known pixels in the whole-image term (Context Encoder: 10).
        adv_weight: λ_adv (0.002).
        guidance_weight: λ_g (0.01).
        style_weight: λ_sty (10).
        reconstruction: ``l1`` (paper, Shift-Net) or ``l2`` (Context Encoder).
        gan_mode: ``vanilla`` (paper), ``lsgan`` or ``hinge``.
        pixel_range: ``signed``: the reconstruction terms on images mapped to [-1, 1], as
            Shift-Net's code computes them (L1 ×2, L2 ×4 against ``unit``), so its weights
            keep their ratios to the GAN and guidance terms; ``unit``: on [0, 1].
        guidance_normalization: ``all`` (Shift-Net's ``InnerCos``) or ``hole``; see
            :func:`guidance_loss`.
        style_features: the VGG16 feature extractor, or a zero-argument factory of it (built
            only when ``style_weight > 0``; Hydra: ``_partial_: true``). May be None when
            ``style_weight == 0``.

    A weight of 0 skips its term (it is absent from the returned dict).
    """

    def __init__(
        self,
        rec_weight: float = 1.0,
        adv_weight: float = 0.002,
        guidance_weight: float = 0.01,
        style_weight: float = 10.0,
        reconstruction: Literal["l1", "l2"] = "l1",
        gan_mode: GanMode = "vanilla",
        style_features: nn.Module | Callable[[], nn.Module] | None = None,
        hole_weight: float = 0.0,
        hole_discount: float | None = None,
        known_weight: float = 1.0,
        pixel_range: str = "signed",
        guidance_normalization: str = "all",
    ):
        super().__init__()
        if pixel_range not in PIXEL_RANGES:
            raise ValueError(f"pixel_range must be one of {PIXEL_RANGES}, got {pixel_range!r}")
        if guidance_normalization not in GUIDANCE_NORMALIZATIONS:
            raise ValueError(
                f"guidance_normalization must be one of {GUIDANCE_NORMALIZATIONS}, "
                f"got {guidance_normalization!r}"
            )
        self.pixel_range = pixel_range
        self.guidance_normalization = guidance_normalization
        if reconstruction not in ("l1", "l2"):
            raise ValueError(f"reconstruction must be l1 or l2, got {reconstruction!r}")
        if gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")
        self.rec_weight = float(rec_weight)
        self.hole_weight = float(hole_weight)
        self.hole_discount = None if hole_discount is None else float(hole_discount)
        if self.hole_discount is not None and not 0 < self.hole_discount <= 1:
            raise ValueError(f"hole_discount must be in (0, 1] or null, got {hole_discount}")
        self.known_weight = float(known_weight)
        self.adv_weight = float(adv_weight)
        self.guidance_weight = float(guidance_weight)
        self.style_weight = float(style_weight)
        self.reconstruction = reconstruction
        self.gan_mode = gan_mode
        self.style_features: nn.Module | None = None
        if self.style_weight > 0:
            if style_features is None:
                raise ValueError("style_weight > 0 needs style_features (a VGG16Features)")
            if not isinstance(style_features, nn.Module):
                style_features = style_features()
            self.style_features = style_features

    def style_term(self, output: Tensor, target: Tensor) -> Tensor:
        """eq. 8 on VGG16 features of ``output`` and ``target``.

        The VGG16 convolutions run in the caller's precision: under autocast (bf16-mixed,
        16-mixed) in its low-precision dtype, which halves the activations VGG saves for
        backward and runs on tensor cores; without autocast in float32. The Gram matrices
        and their L1 distance are computed in float32 (:func:`gram_matrix` casts the
        features and turns autocast off).
        """
        if self.style_features is None:
            raise RuntimeError("style_term needs style_features (style_weight was 0)")
        out_feats = self.style_features(output)
        with torch.no_grad():
            gt_feats = self.style_features(target)
        return style_loss(out_feats, gt_feats)

    def generator_terms(
        self,
        *,
        output: Tensor,
        target: Tensor,
        mask: Tensor,
        fake_logits: Tensor | None = None,
        gen: GeneratorOutput | None = None,
        guidance_target: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The generator's terms: "rec", "hole", "adv", "guidance", "style" (weight > 0), "total".

        Args:
            output: raw prediction ``[B, 3, H, W]`` in [0, 1].
            target: ground truth, same shape.
            mask: ``[B, 1, H, W]``, 1 = missing (reconstruction covers the whole image).
            fake_logits: D's logits on the composite; "adv" is skipped when None.
            gen: the generator output; "guidance" is skipped when it carries no guidance
                feature (Context Encoder, ``shift_level: null``).
            guidance_target: ``generator.guidance_target(target, mask)``.
        """
        terms: dict[str, Tensor] = {}
        weighted: list[Tensor] = []
        pixels_out, pixels_gt = output, target
        if self.pixel_range == "signed":  # Shift-Net's scale: the network's [-1, 1]
            pixels_out, pixels_gt = output.float() * 2 - 1, target.float() * 2 - 1
        if self.rec_weight > 0:
            terms["rec"] = reconstruction_loss(
                pixels_out, pixels_gt, self.reconstruction, mask, self.known_weight
            )
            weighted.append(self.rec_weight * terms["rec"])
        if self.hole_weight > 0:
            terms["hole"] = hole_reconstruction_loss(
                pixels_out, pixels_gt, mask, self.reconstruction, self.hole_discount
            )
            weighted.append(self.hole_weight * terms["hole"])
        if self.adv_weight > 0 and fake_logits is not None:
            terms["adv"] = generator_adversarial_loss(fake_logits, self.gan_mode)
            weighted.append(self.adv_weight * terms["adv"])
        if self.guidance_weight > 0 and gen is not None and gen.guidance_feature is not None:
            if guidance_target is None or gen.guidance_hole is None:
                raise ValueError("the guidance term needs guidance_target and gen.guidance_hole")
            terms["guidance"] = guidance_loss(
                gen.guidance_feature,
                guidance_target,
                gen.guidance_hole,
                self.guidance_normalization,
            )
            weighted.append(self.guidance_weight * terms["guidance"])
        if self.style_weight > 0:
            terms["style"] = self.style_term(output, target)
            weighted.append(self.style_weight * terms["style"])
        total = torch.stack(weighted).sum() if weighted else output.float().sum() * 0.0
        terms["total"] = total
        return terms

    def discriminator_terms(self, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
        """D's GAN loss: "real", "fake" and "total" = their mean (as pix2pix / Shift-Net)."""
        real, fake = discriminator_adversarial_losses(real_logits, fake_logits, self.gan_mode)
        return {"real": real, "fake": fake, "total": 0.5 * (real + fake)}

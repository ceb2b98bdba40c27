"""The loss terms (eqs. 5–9) and the InpaintingLoss contract."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from inpaintgan.losses import (
    InpaintingLoss,
    discriminator_adversarial_losses,
    generator_adversarial_loss,
    gram_matrix,
    guidance_loss,
    hole_reconstruction_loss,
    reconstruction_loss,
    spatial_discount,
    style_loss,
)
from inpaintgan.models import GeneratorOutput, VGG16Features

CONF = Path(__file__).resolve().parents[1] / "conf"


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def square_hole(b: int = 2, size: int = 8) -> torch.Tensor:
    hole = torch.zeros(b, 1, size, size, dtype=torch.bool)
    hole[..., 2:5, 3:7] = True
    return hole


# -------------------------------------------------------------------------------- guidance
def test_guidance_is_zero_when_hole_matches_whatever_is_outside():
    target = rand(2, 5, 8, 8)
    hole = square_hole()
    feature = torch.where(hole, target, rand(2, 5, 8, 8, seed=1))
    assert guidance_loss(feature, target, hole) == 0
    assert guidance_loss(rand(2, 5, 8, 8, seed=1), target, hole) > 0


def test_guidance_ignores_values_outside_the_hole_and_its_two_normalizations():
    feature, target, hole = rand(2, 5, 8, 8, seed=2), rand(2, 5, 8, 8, seed=3), square_hole()
    loss = guidance_loss(feature, target, hole)
    changed = torch.where(hole, feature, feature + 100.0)
    torch.testing.assert_close(guidance_loss(changed, target, hole), loss)
    # "all" (the default): Shift-Net's InnerCos, an MSELoss over the whole masked map
    known = (~hole).expand_as(feature)
    expected = torch.nn.functional.mse_loss(
        feature.masked_fill(known, 0), target.masked_fill(known, 0)
    )
    torch.testing.assert_close(loss, expected)
    # "hole": the mean over hole positions, larger by h*w / hole positions
    per_hole = guidance_loss(feature, target, hole, "hole")
    torch.testing.assert_close(per_hole, ((feature - target) ** 2)[hole.expand_as(feature)].mean())
    torch.testing.assert_close(per_hole / loss, torch.tensor(64 / 12))
    with pytest.raises(ValueError, match="normalization"):
        guidance_loss(feature, target, hole, "pixels")


def test_guidance_gradient_only_inside_the_hole_and_zero_without_hole():
    feature = rand(2, 5, 8, 8, seed=4).requires_grad_(True)
    target, hole = rand(2, 5, 8, 8, seed=5), square_hole()
    guidance_loss(feature, target, hole).backward()
    assert feature.grad[~hole.expand_as(feature)].abs().sum() == 0
    assert feature.grad[hole.expand_as(feature)].abs().min() > 0
    empty = torch.zeros_like(hole)
    loss = guidance_loss(feature, target, empty)
    assert loss == 0 and torch.isfinite(loss) and loss.requires_grad


# ---------------------------------------------------------------------------- Gram / style
def test_gram_matrix_properties():
    feat = rand(2, 4, 6, 5, seed=6)
    gram = gram_matrix(feat)
    assert gram.shape == (2, 4, 4)
    torch.testing.assert_close(gram, gram.transpose(1, 2))
    assert (torch.linalg.eigvalsh(gram) > -1e-6).all()  # positive semi-definite
    ones = torch.ones(1, 3, 4, 4)
    torch.testing.assert_close(gram_matrix(ones), torch.full((1, 3, 3), 16 / (3 * 16)))
    half = gram_matrix(feat.half())
    assert half.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(gram_matrix(feat), gram)


def test_style_loss_zero_for_same_statistics_positive_otherwise():
    feats = [rand(2, 4, 6, 6, seed=7), rand(2, 8, 3, 3, seed=8)]
    shuffled = [f.flatten(2)[..., torch.randperm(f.shape[2] * f.shape[3])] for f in feats]
    shuffled = [s.reshape(f.shape) for s, f in zip(shuffled, feats, strict=True)]
    assert style_loss(feats, shuffled) < 1e-6  # Gram matrices ignore spatial arrangement
    other = [rand(2, 4, 6, 6, seed=9), rand(2, 8, 3, 3, seed=10)]
    loss = style_loss(feats, other)
    expected = sum(
        (gram_matrix(a) - gram_matrix(b)).abs().mean() for a, b in zip(feats, other, strict=True)
    )
    torch.testing.assert_close(loss, expected / 2)
    with pytest.raises(ValueError):
        style_loss(feats, other[:1])


def test_style_term_runs_in_float32_under_autocast():
    torch.manual_seed(0)
    loss = InpaintingLoss(
        style_features=VGG16Features(layers=["relu1_2", "relu2_2"], weights="random")
    )
    output, target = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    plain = loss.style_term(output, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss.style_term(output.bfloat16(), target.bfloat16())
    assert mixed.dtype == torch.float32
    reference = loss.style_term(output.bfloat16().float(), target.bfloat16().float())
    torch.testing.assert_close(mixed, reference)
    assert plain > 0


# ---------------------------------------------------------------------------- adversarial
def test_vanilla_gan_values():
    zeros = torch.zeros(3, 1)
    torch.testing.assert_close(generator_adversarial_loss(zeros), torch.tensor(math.log(2)))
    real, fake = discriminator_adversarial_losses(
        torch.full((2, 1), 20.0), torch.full((2, 1), -20.0)
    )
    assert real < 1e-6 and fake < 1e-6
    real, fake = discriminator_adversarial_losses(
        torch.full((2, 1), -20.0), torch.full((2, 1), 20.0)
    )
    torch.testing.assert_close(real, torch.tensor(20.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(fake, torch.tensor(20.0), atol=1e-4, rtol=0)


def test_lsgan_and_hinge_values():
    logits = torch.tensor([[-1.0], [0.5]])
    torch.testing.assert_close(
        generator_adversarial_loss(logits, "lsgan"), torch.tensor((4.0 + 0.25) / 2)
    )
    real, fake = discriminator_adversarial_losses(logits, logits, "lsgan")
    torch.testing.assert_close(real, torch.tensor((4.0 + 0.25) / 2))
    torch.testing.assert_close(fake, torch.tensor((1.0 + 0.25) / 2))
    torch.testing.assert_close(generator_adversarial_loss(logits, "hinge"), torch.tensor(0.25))
    real, fake = discriminator_adversarial_losses(logits, logits, "hinge")
    torch.testing.assert_close(real, torch.tensor((2.0 + 0.5) / 2))
    torch.testing.assert_close(fake, torch.tensor((0.0 + 1.5) / 2))
    with pytest.raises(ValueError):
        generator_adversarial_loss(logits, "wgan")


@pytest.mark.parametrize("mode", ["vanilla", "lsgan", "hinge"])
def test_discriminator_terms(mode):
    loss = InpaintingLoss(style_weight=0, gan_mode=mode)
    real, fake = rand(2, 1, 3, 3, seed=11), rand(2, 1, 3, 3, seed=12)
    terms = loss.discriminator_terms(real, fake)
    assert set(terms) == {"real", "fake", "total"}
    torch.testing.assert_close(terms["total"], 0.5 * (terms["real"] + terms["fake"]))
    # A discriminator that tells real (logit 1) from fake (logit 0) beats one that swaps them,
    # and the generator's loss is lower when D calls its output real.
    ones, zeros = torch.ones(2, 1), torch.zeros(2, 1)
    assert (
        loss.discriminator_terms(ones, zeros)["total"]
        < loss.discriminator_terms(zeros, ones)["total"]
    )
    adv = {
        value: loss.generator_terms(
            output=zeros, target=zeros, mask=zeros, fake_logits=torch.full((2, 1), value)
        )["adv"]
        for value in (0.0, 1.0)
    }
    assert adv[1.0] < adv[0.0]


# ------------------------------------------------------------------------- InpaintingLoss
def test_generator_terms_weighted_total_and_skips():
    torch.manual_seed(0)

    def no_vgg():
        raise AssertionError("VGG must not be built when style_weight is 0")

    output, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    feature, guide = rand(2, 4, 4, 4, seed=13), rand(2, 4, 4, 4, seed=14)
    gen = GeneratorOutput(output, feature, square_hole(2, 4))
    fake = rand(2, 1, seed=15)
    loss = InpaintingLoss(
        rec_weight=2.0,
        adv_weight=0.5,
        guidance_weight=0.25,
        style_weight=0.0,
        style_features=no_vgg,
    )
    assert loss.style_features is None
    terms = loss.generator_terms(
        output=output, target=target, mask=mask, fake_logits=fake, gen=gen, guidance_target=guide
    )
    assert set(terms) == {"rec", "adv", "guidance", "total"}
    # the default pixel_range "signed": L1 on [-1, 1], twice the [0, 1] error
    torch.testing.assert_close(terms["rec"], 2 * (output - target).abs().mean())
    torch.testing.assert_close(terms["adv"], generator_adversarial_loss(fake))
    torch.testing.assert_close(terms["guidance"], guidance_loss(feature, guide, gen.guidance_hole))
    expected = 2.0 * terms["rec"] + 0.5 * terms["adv"] + 0.25 * terms["guidance"]
    torch.testing.assert_close(terms["total"], expected)

    no_guidance = GeneratorOutput(output)  # a generator without a shift layer
    terms = loss.generator_terms(output=output, target=target, mask=mask, gen=no_guidance)
    assert set(terms) == {"rec", "total"}  # no logits, no guidance feature: skipped
    l2 = InpaintingLoss(
        rec_weight=1.0,
        adv_weight=0,
        guidance_weight=0,
        style_weight=0,
        reconstruction="l2",
        pixel_range="unit",
    )
    terms = l2.generator_terms(output=output, target=target, mask=mask, fake_logits=fake, gen=gen)
    assert set(terms) == {"rec", "total"}
    torch.testing.assert_close(terms["rec"], ((output - target) ** 2).mean())
    torch.testing.assert_close(reconstruction_loss(output, target, "l2"), terms["rec"])


def test_style_term_in_total_and_gradient_to_output():
    torch.manual_seed(0)
    vgg = VGG16Features(layers=["relu1_2", "relu2_2"], weights="random")
    loss = InpaintingLoss(
        rec_weight=0, adv_weight=0, guidance_weight=0, style_weight=10.0, style_features=vgg
    )
    output = torch.rand(1, 3, 16, 16, requires_grad=True)
    terms = loss.generator_terms(
        output=output, target=torch.rand(1, 3, 16, 16), mask=torch.zeros(1, 1, 16, 16)
    )
    assert set(terms) == {"style", "total"}
    torch.testing.assert_close(terms["total"], 10.0 * terms["style"])
    terms["total"].backward()
    assert output.grad.abs().sum() > 0
    assert len(loss.state_dict()) == 0 and list(loss.parameters()) == []


def test_guidance_needs_its_target_and_style_needs_features():
    loss = InpaintingLoss(style_weight=0)
    gen = GeneratorOutput(torch.rand(1, 3, 8, 8), rand(1, 2, 2, 2), square_hole(1, 2))
    with pytest.raises(ValueError, match="guidance_target"):
        loss.generator_terms(output=gen.image, target=gen.image, mask=gen.image[:, :1], gen=gen)
    with pytest.raises(ValueError, match="style_features"):
        InpaintingLoss(style_weight=1.0, style_features=None)


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("paper", (1.0, 0.002, 0.01, 10.0, "l1")),
        ("shiftnet", (1.0, 0.002, 0.01, 0.0, "l1")),
        ("ce", (3.992, 0.002, 0.0, 0.0, "l2")),
    ],
)
def test_loss_configs(name, weights):
    cfg = OmegaConf.load(CONF / "loss" / f"{name}.yaml")
    if cfg.style_features is not None:
        cfg.style_features.weights = "random"
        cfg.style_features.layers = ["relu1_1"]
    loss = instantiate(cfg)
    got = (loss.rec_weight, loss.adv_weight, loss.guidance_weight, loss.style_weight)
    assert (*got, loss.reconstruction) == weights and loss.gan_mode == "vanilla"
    assert (loss.style_features is not None) == (name == "paper")


# ------------------------------------------------------------------- hole term (issue 17)
@pytest.mark.parametrize("discount", [None, 0.9])
def test_hole_loss_ignores_known_pixels(discount):
    """Zero when the hole matches the ground truth, whatever the known pixels hold; known
    pixels get no gradient; a wrong hole costs more without discount than with it."""
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    output = torch.where(mask.bool(), target, torch.rand_like(target)).requires_grad_(True)
    loss = hole_reconstruction_loss(output, target, mask, discount_gamma=discount)
    assert loss.item() == 0.0
    wrong = torch.where(mask.bool(), target + 0.5, target).requires_grad_(True)
    hole = hole_reconstruction_loss(wrong, target, mask, discount_gamma=discount)
    # Shift-Net's normalisation: the sum over the hole over all pixels (hole = 1/4 here).
    expected = 0.5 * 0.25 if discount is None else None
    if expected is not None:
        assert hole.item() == pytest.approx(expected)
    else:
        assert 0 < hole.item() < 0.5 * 0.25
    hole.backward()
    assert torch.all(wrong.grad[mask.expand_as(wrong) == 0] == 0)


def test_spatial_discount_follows_the_distance_from_the_border():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    weight = spatial_discount(mask, 0.5)
    assert torch.all(weight[mask == 0] == 0)
    assert weight[0, 0, 4, 4:12].tolist() == [1.0] * 8  # the border row
    assert weight[0, 0, 5, 5].item() == 0.5 and weight[0, 0, 7, 7].item() == 0.125
    assert torch.equal(spatial_discount(mask, 1.0), mask)


def test_hole_term_in_the_total_and_known_weight():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    output = target + 0.1
    loss = InpaintingLoss(
        rec_weight=1,
        hole_weight=4,
        adv_weight=0,
        guidance_weight=0,
        style_weight=0,
        pixel_range="unit",
    )
    terms = loss.generator_terms(output=output, target=target, mask=mask)
    assert terms["hole"].item() == pytest.approx(0.1 * 0.25)
    assert terms["total"].item() == pytest.approx(0.1 + 4 * 0.1 * 0.25)
    ce = InpaintingLoss(
        rec_weight=1,
        known_weight=10,
        reconstruction="l2",
        adv_weight=0,
        guidance_weight=0,
        style_weight=0,
        pixel_range="unit",
    )
    # known pixels weigh 10, hole pixels 1: 0.01 * (0.25 + 10 * 0.75)
    rec = ce.generator_terms(output=output, target=target, mask=mask)["rec"]
    assert rec.item() == pytest.approx(0.01 * 7.75)


def test_paper_and_shiftnet_losses_keep_shift_nets_effective_ratios():
    """The composed loss configs of paper and shiftnet, on one fixed batch, equal Shift-Net's
    objective / 100, term by term: L1 100 and hole L1 400 on [-1, 1] images, InnerCos guidance
    1 (MSE over the whole masked map), GAN 0.2. Fails if a range or normalisation drifts."""
    cfg_dir = Path(__file__).resolve().parents[1] / "conf" / "loss"
    g = torch.Generator().manual_seed(3)
    target = torch.rand(2, 3, 32, 32, generator=g)
    output = (target + 0.2 * torch.randn(2, 3, 32, 32, generator=g)).clamp(0, 1)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    feature, guide = torch.randn(2, 8, 8, 8, generator=g), torch.randn(2, 8, 8, 8, generator=g)
    hole = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    hole[..., 2:6, 2:6] = True
    fake = torch.randn(2, 1, generator=g)
    signed_out, signed_gt = output * 2 - 1, target * 2 - 1
    weight = spatial_discount(mask, 0.99)  # Shift-Net's default hole term is discounted
    known = (~hole).expand_as(feature)
    reference = {
        "rec": 100 * torch.nn.functional.l1_loss(signed_out, signed_gt),
        "hole": 400 * torch.nn.functional.l1_loss(signed_out * weight, signed_gt * weight),
        "guidance": 1
        * torch.nn.functional.mse_loss(feature.masked_fill(known, 0), guide.masked_fill(known, 0)),
        "adv": 0.2 * generator_adversarial_loss(fake),
    }
    for name in ("paper", "shiftnet"):
        config = OmegaConf.load(cfg_dir / f"{name}.yaml")
        config.style_weight = 0.0  # the style term is outside Shift-Net's ratio
        loss = instantiate(config)
        terms = loss.generator_terms(
            output=output,
            target=target,
            mask=mask,
            fake_logits=fake,
            gen=GeneratorOutput(output, feature, hole),
            guidance_target=guide,
        )
        weights = {
            "rec": loss.rec_weight,
            "hole": loss.hole_weight,
            "guidance": loss.guidance_weight,
            "adv": loss.adv_weight,
        }
        for term, value in reference.items():
            torch.testing.assert_close(
                100 * weights[term] * terms[term], value, msg=f"{name} {term}"
            )

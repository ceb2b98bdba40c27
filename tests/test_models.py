"""Generators, discriminators, the SE block, VGG16 features and the model configs."""

from __future__ import annotations

import logging

import pytest
import torch
from helpers import compose_config
from hydra.utils import instantiate

import inpaintgan.config  # noqa: F401  (registers the ${d_input_size:...} resolver)
from inpaintgan.models import (
    ContextEncoder,
    DCGANDiscriminator,
    GeneratorOutput,
    ImprovedSEBlock,
    PatchGANDiscriminator,
    UNetGenerator,
    VGG16Features,
)
from inpaintgan.models.base import complexity, init_weights
from inpaintgan.models.discriminators import DiscriminatorInput
from inpaintgan.models.unet import UpBlock, resolve_depth
from inpaintgan.models.vgg import VGG16_LAYERS, _vgg16_features


def center_mask(batch: int, size: int) -> torch.Tensor:
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return mask


def images(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def assert_every_parameter_gets_gradient(module: torch.nn.Module) -> None:
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    assert params
    dead = [n for n, p in params if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead, f"no gradient reaches {dead}"


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("size", [128, 256, 512])
@pytest.mark.parametrize("se_levels", ["auto", []], ids=["paper", "shiftnet"])
def test_unet_shapes(size, se_levels):
    torch.manual_seed(0)
    gen = UNetGenerator(image_size=size, base_channels=4, max_channels=16, se_levels=se_levels)
    assert gen.depth == {128: 7, 256: 8, 512: 8}[size]
    assert bool(len(gen.se)) == (se_levels == "auto")
    with torch.no_grad():
        out = gen(images(1, size), center_mask(1, size))
    assert isinstance(out, GeneratorOutput)
    assert out.image.shape == (1, 3, size, size)
    assert 0 <= out.image.min() and out.image.max() <= 1
    level = size // 8  # shift_level 3: 32x32 at 256
    assert out.guidance_feature.shape == (1, 16, level, level)
    assert out.guidance_hole.shape == (1, 1, level, level)
    assert out.guidance_hole.dtype == torch.bool
    assert int(out.guidance_hole.sum()) == (level // 2) ** 2
    target = gen.guidance_target(images(1, size, seed=1), center_mask(1, size))
    assert target.shape == out.guidance_feature.shape and not target.requires_grad


def test_default_unet_matches_shiftnet_size():
    """Shift-Net's generator (se_levels=[]) at 256 has Shift-Net's 54.9 M parameters."""
    gen = UNetGenerator(image_size=256, se_levels=[])
    assert sum(p.numel() for p in gen.parameters()) == 54_929_987
    assert [gen.widths[i] for i in range(1, 9)] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert gen.up[2].block[1].in_channels == 3 * 256  # triple concat at the 32x32 level
    weight = gen.down[3].block[1].weight  # init N(0, 0.02)
    assert abs(weight.mean().item()) < 1e-3 and abs(weight.std().item() - 0.02) < 1e-3


def test_unet_ignores_hole_pixels_and_needs_multiple_of_two_to_depth():
    torch.manual_seed(0)
    gen = UNetGenerator(image_size=64, base_channels=4, max_channels=16).eval()
    image, mask = images(2, 64), center_mask(2, 64)
    noisy = torch.where(mask.bool(), torch.rand_like(image), image)
    with torch.no_grad():
        torch.testing.assert_close(gen(noisy, mask).image, gen(image, mask).image)
        with pytest.raises(ValueError, match="multiple of 2\\*\\*depth"):
            gen(images(1, 48), center_mask(1, 48))


def test_guidance_target_is_the_encoder_feature_of_the_ground_truth():
    torch.manual_seed(0)
    gen = UNetGenerator(image_size=64, base_channels=4, max_channels=16, shift_level=2)
    image, mask = images(2, 64), center_mask(2, 64)
    seen = {}
    level = gen.se["2"]  # the skip feature of level 2 comes out of its SE block
    handle = level.register_forward_hook(lambda m, i, o: seen.setdefault("feature", o))
    target = gen.guidance_target(image, mask)
    handle.remove()
    torch.testing.assert_close(target, seen["feature"])
    with torch.no_grad():  # an empty mask: the damaged input equals the ground truth
        empty = torch.zeros_like(mask)
        handle = level.register_forward_hook(lambda m, i, o: seen.__setitem__("fwd", o))
        gen(image, empty)
        handle.remove()
    torch.testing.assert_close(gen.guidance_target(image, empty), seen["fwd"])


def test_shift_off_is_a_plain_unet_without_guidance():
    gen = UNetGenerator(image_size=64, base_channels=4, max_channels=16, shift_level=None)
    out = gen(images(1, 64), center_mask(1, 64))
    assert out.guidance_feature is None and out.guidance_hole is None
    assert gen.guidance_target(images(1, 64), center_mask(1, 64)) is None
    assert gen.up[2].block[1].in_channels == 2 * 16


def test_resolve_depth_and_bad_levels():
    assert resolve_depth(256, None) == 8 and resolve_depth(128, None) == 7
    assert resolve_depth(192, None) == 6 and resolve_depth(None, None) == 8
    assert resolve_depth(128, 5) == 5
    with pytest.raises(ValueError):
        UNetGenerator(image_size=64, se_levels=[7])
    with pytest.raises(ValueError):
        UNetGenerator(image_size=64, shift_level=6)


@pytest.mark.parametrize("size", [128, 256])
def test_context_encoder_shapes(size):
    gen = ContextEncoder(image_size=size, base_channels=4, max_channels=16, bottleneck_channels=32)
    with torch.no_grad():
        out = gen(images(2, size), center_mask(2, size))
    assert out.image.shape == (2, 3, size, size)
    assert out.guidance_feature is None and gen.guidance_target(out.image, out.image) is None
    convs = [m for m in gen.encoder if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == {128: 6, 256: 7}[size]  # stride-2 convs to 4x4, then the code
    assert convs[-1].out_channels == 32


@pytest.mark.parametrize(
    "make",
    [
        lambda: UNetGenerator(image_size=64, base_channels=4, max_channels=16),
        lambda: UNetGenerator(image_size=64, base_channels=4, max_channels=16, se_levels=[]),
        lambda: ContextEncoder(image_size=32, base_channels=4, bottleneck_channels=16),
    ],
    ids=["paper", "shiftnet", "ce"],
)
def test_gradient_reaches_every_generator_parameter(make):
    torch.manual_seed(0)
    gen = make()
    size = 64 if isinstance(gen, UNetGenerator) else 32
    image, mask = images(2, size), center_mask(2, size)

    def backward() -> None:
        gen.zero_grad(set_to_none=True)
        out = gen(image, mask)
        loss = (out.image - images(2, size, seed=3)).abs().mean()
        if out.guidance_feature is not None:
            loss = loss + out.guidance_feature.square().mean()
        loss.backward()

    # The SE blocks' residual fuse starts at zero (identity at init), so their branches get
    # gradient from the second step on: one optimiser step first, then every parameter.
    backward()
    torch.optim.Adam(gen.parameters(), lr=1e-3).step()
    backward()
    assert_every_parameter_gets_gradient(gen)


# ----------------------------------------------------------------------------- SE block
def test_se_block_keeps_shape_and_reweights_six_branches():
    torch.manual_seed(0)
    block = ImprovedSEBlock(16, branch_ratio=0.25)
    x = torch.randn(2, 16, 8, 8)
    assert block(x).shape == x.shape
    assert block.fuse.in_channels == 16 + 6 * 4
    assert block.excitation.mlp[-1].out_features == 6 * 4
    weights = block.channel_weights(x)  # squeezes the 24 multi-scale channels (default)
    assert block.excitation.mlp[0].in_features == 6 * 4
    assert weights.shape == (2, 24, 1, 1) and (weights > 0).all() and (weights < 1).all()
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in block.modules())
    assert convs == 3 + 3 + 1  # shared chains: 3 plain + 3 dilated + fuse
    dilations = [c.dilation for c in block.chains[1].convs]
    assert dilations == [(2, 2)] * 3
    separate = ImprovedSEBlock(16, shared_chain=False, dilated_taps=(1, 2, 2))
    assert sum(isinstance(m, torch.nn.Conv2d) for m in separate.modules()) == 6 + 5 + 1
    assert separate(x).shape == x.shape


# --------------------------------------------------------------------------- discriminators
@pytest.mark.parametrize("size", [128, 256])
@pytest.mark.parametrize("norm", ["batch", "spectral"])
def test_dcgan_discriminator(size, norm):
    torch.manual_seed(0)
    disc = DCGANDiscriminator(image_size=size, base_channels=4, max_channels=16, norm=norm)
    logits = disc(images(2, size))
    assert logits.shape == (2, 1)
    strided = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == {128: 5, 256: 6}[size]
    logits.sum().backward()
    assert_every_parameter_gets_gradient(disc)


def test_patchgan_discriminator():
    torch.manual_seed(0)
    disc = PatchGANDiscriminator(base_channels=4)
    logits = disc(images(2, 256))
    assert logits.shape == (2, 1, 30, 30)
    assert any("parametrizations" in name for name, _ in disc.named_parameters())
    logits.mean().backward()
    assert_every_parameter_gets_gradient(disc)
    full = PatchGANDiscriminator()
    widths = [m.out_channels for m in full.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [64, 128, 256, 512, 1]


def test_complexity_counts_conv_flops():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    params, flops = complexity(conv, torch.zeros(1, 3, 10, 10))
    assert params == 8 * 3 * 9 and flops == 2 * 8 * 3 * 9 * 100


# ------------------------------------------------------------------------------------ VGG
def test_vgg_random_is_frozen_and_out_of_state_dict():
    vgg = VGG16Features(layers=["relu1_2", "relu2_2", "pool2"], weights="random")
    assert vgg.source == "random"
    assert list(vgg.parameters()) == [] and len(vgg.state_dict()) == 0
    feats = vgg(images(1, 32))
    assert [f.shape[1:] for f in feats] == [(64, 32, 32), (128, 16, 16), (128, 8, 8)]
    assert len(vgg.features) == VGG16_LAYERS["pool2"] + 1
    moved = vgg.to(torch.float64)  # buffers follow .to(...)
    assert moved.features[0].weight.dtype == torch.float64 and moved.mean.dtype == torch.float64
    x = images(1, 32).double().requires_grad_(True)
    moved(x)[0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_vgg_imagenet_offline_fails_at_construction(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        VGG16Features(weights="imagenet")
    message = str(err.value)
    assert "\n" not in message
    assert "vgg16-397923af.pth" in message and str(tmp_path / "checkpoints") in message


def test_vgg_auto_warns_once_then_loads_a_placed_file(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="inpaintgan.models.vgg"):
        vgg = VGG16Features(layers=["relu1_1"], weights="auto")
    assert vgg.source == "random"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert "vgg16-397923af.pth" in warnings[0].getMessage()

    torch.manual_seed(0)
    reference = _vgg16_features(31)
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / "vgg16-397923af.pth")
    for vgg in (
        VGG16Features(layers=["relu1_1"], weights="auto"),
        VGG16Features(layers=["relu1_1"], weights="imagenet"),
    ):
        assert vgg.source == "imagenet"
        torch.testing.assert_close(vgg.features[0].weight, reference[0].weight)
    custom = tmp_path / "mine.pth"
    torch.save(reference.state_dict(), custom)  # a bare `features` state dict works too
    vgg = VGG16Features(layers=["conv2_1"], weights="imagenet", weights_path=str(custom))
    torch.testing.assert_close(vgg.features[5].weight, reference[5].weight)


def test_vgg_bad_layer_name():
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        VGG16Features(layers=["relu9_9"], weights="random")


# ------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("name", ["paper", "shiftnet", "ce"])
def test_model_configs_instantiate(name):
    cfg = compose_config("train", [f"model={name}", "data.size=64"], hydra=True)
    assert cfg.hydra.runtime.choices.loss == name  # each model trains with its own loss
    small = {"base_channels": 4, "max_channels": 8}
    if name == "ce":
        small["bottleneck_channels"] = 8
    gen = instantiate(cfg.model.generator, **small)
    disc = instantiate(cfg.model.discriminator, base_channels=4)
    expected = {
        "paper": (UNetGenerator, DCGANDiscriminator),
        "shiftnet": (UNetGenerator, PatchGANDiscriminator),
        "ce": (ContextEncoder, DCGANDiscriminator),
    }[name]
    assert isinstance(gen, expected[0]) and isinstance(disc, expected[1])
    if name != "ce":
        assert gen.shift_level == 3 and bool(gen.se_levels) == (name == "paper")
    out = gen(images(1, 64), center_mask(1, 64))
    assert out.image.shape == (1, 3, 64, 64) and disc(out.image).shape[0] == 1


# ------------------------------------------------------------------- recipe (issue 17)
@pytest.mark.parametrize("channels", [32, 128])
def test_se_block_starts_at_identity_scale(channels):
    """At init the residual SE block passes encoder features through unchanged (the fused
    output alone shrank unit-scale features to 0.1-0.2); without the residual it does not."""
    torch.manual_seed(0)
    x = torch.randn(2, channels, 16, 16)
    se = ImprovedSEBlock(channels)
    init_weights(se)  # as the U-Net does: the zero fuse stays zero
    with torch.no_grad():
        out = se(x)
    assert torch.equal(out, x)
    plain = ImprovedSEBlock(channels, residual=False)
    init_weights(plain)
    with torch.no_grad():
        ratio = plain(x).std() / x.std()
    assert ratio < 0.5  # the old block: features several times smaller than its input


def test_unet_skip_features_keep_their_scale_at_init():
    """Encoder features after SE have the scale of those without SE (the skip features the
    decoder concatenates and the guidance target)."""
    torch.manual_seed(0)
    image, mask = images(2, 128), center_mask(2, 128)
    with_se = UNetGenerator(image_size=128, base_channels=16, max_channels=64)
    without = UNetGenerator(image_size=128, base_channels=16, max_channels=64, se_levels=[])
    without.down.load_state_dict(with_se.down.state_dict())
    x = with_se._network_input(image, mask, zero_hole=True)
    with torch.no_grad():
        a, b = with_se._encode(x, 4), without._encode(x, 4)
    for fa, fb in zip(a, b, strict=True):
        assert torch.allclose(fa, fb)


def test_context_encoder_predicts_the_center_patch():
    """CE (predict=center) outputs the S/2 central patch; the image outside it is the known
    input, hole pixels out of its reach are mid-grey, the patch is the decoder's output."""
    torch.manual_seed(0)
    gen = ContextEncoder(image_size=64, base_channels=8, max_channels=32, bottleneck_channels=16)
    image, mask = images(2, 64), center_mask(2, 64)
    mask[:, :, 2:6, 2:6] = 1  # a hole outside the center patch
    patch = gen.predict_center(image, mask)
    assert patch.shape == (2, 3, 32, 32)
    out = gen(image, mask).image
    assert out.shape == (2, 3, 64, 64)
    assert torch.equal(out[..., 16:48, 16:48], patch)
    outside = torch.ones(64, 64, dtype=torch.bool)
    outside[16:48, 16:48] = False
    known = outside & (mask[0, 0] == 0)
    assert torch.equal(out[..., known], image[..., known])
    assert torch.all(out[..., 2:6, 2:6] == 0.5)
    full = ContextEncoder(image_size=64, base_channels=8, max_channels=32, predict="full")
    assert full.predict_center(image, mask).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="predict"):
        ContextEncoder(image_size=64, predict="corner")


def test_discriminator_input_crops_the_hole_box():
    """hole_box: a rectangular hole's box, cut exactly when it is `size` wide and resampled
    otherwise; irregular or empty holes give the whole image, average-pooled to `size`."""
    torch.manual_seed(0)
    image = torch.rand(4, 3, 64, 64)
    mask = torch.zeros(4, 1, 64, 64)
    mask[0, :, 16:48, 16:48] = 1  # center: box = 32 = size
    mask[1, :, 0:16, 8:40] = 1  # a 16x32 box
    mask[2, :, 10, :] = 1  # a thin line ...
    mask[2, :, :, 10] = 1  # ... crossing another: irregular
    crop = DiscriminatorInput(image_size=64, scale=0.5)
    boxes = crop.boxes(mask)
    assert boxes.tolist() == [[16, 16, 48, 48], [8, 0, 40, 16], [0, 0, 64, 64], [0, 0, 64, 64]]
    out = crop(image, mask)
    assert out.shape == (4, 3, 32, 32)
    assert torch.allclose(out[0], image[0, :, 16:48, 16:48])
    pooled = torch.nn.functional.avg_pool2d(image, 2)
    assert torch.allclose(out[2], pooled[2], atol=1e-6)
    assert torch.allclose(out[3], pooled[3], atol=1e-6)
    assert torch.equal(DiscriminatorInput(image_size=64, mode="full")(image, mask), image)
    with pytest.raises(ValueError, match="mode"):
        DiscriminatorInput(image_size=64, mode="patch")


def test_resize_upsampling_has_no_checkerboard():
    """A constant feature map stays constant (away from the border) through the resize
    decoder block; the 4x4 stride-2 transposed conv paints a 2-pixel periodic pattern on it:
    the seed of the plaid in early fills."""
    torch.manual_seed(0)
    x = torch.ones(1, 8, 8, 8)
    pattern = {}
    for mode in ("resize", "transpose"):
        block = UpBlock(8, 4, norm="none", outermost=False, upsample=mode)
        init_weights(block)
        with torch.no_grad():
            out = block(x)[..., 2:-2, 2:-2]
        assert out.shape == (1, 4, 12, 12)
        pattern[mode] = (out - out.mean(dim=(2, 3), keepdim=True)).abs().max().item()
    assert pattern["resize"] < 1e-6 < pattern["transpose"]
    with pytest.raises(ValueError, match="upsample"):
        UpBlock(8, 4, norm="none", outermost=False, upsample="bilinear")
    gen = UNetGenerator(image_size=64, base_channels=4, max_channels=16, upsample="resize")
    with torch.no_grad():
        assert gen(images(1, 64), center_mask(1, 64)).image.shape == (1, 3, 64, 64)


class _NotTensors:
    """A pickled object that weights_only=True refuses to load."""


def test_vgg_weights_file_that_is_not_safe_is_refused_in_one_line(tmp_path):
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({"features.0.weight": _NotTensors()}, path)
    with pytest.raises(ValueError) as info:
        VGG16Features(layers=["relu1_1"], weights="imagenet", weights_path=str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "never loaded" in message
    assert "weights_only=False" not in message and "weights_only` to `False" not in message


def _real_photos(count: int, size: int = 64) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    from inpaintgan.data.datasets import sample_root

    files = sorted(sample_root().rglob("*.jpg"))[::5][:count]
    arrays = [np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def test_ring_mean_hole_fill_paints_the_input_hole_with_the_surrounding_colour():
    from inpaintgan.classical import mean_fill
    from inpaintgan.models.base import from_unit_range

    photos, mask = _real_photos(3), center_mask(3, 64)
    zero = UNetGenerator(image_size=64, base_channels=4, max_channels=16)
    ring = UNetGenerator(image_size=64, base_channels=4, max_channels=16, hole_fill="ring_mean")
    grey, painted = zero._network_input(photos, mask, True), ring._network_input(photos, mask, True)
    hole = mask.bool().expand(-1, 3, -1, -1)
    assert grey[:, :3][hole].abs().max() == 0  # Shift-Net: mid-grey in the hole
    # ring_mean: the mean fill's colour, a different one for each photo; known pixels as before
    torch.testing.assert_close(painted[:, :3], from_unit_range(mean_fill(photos, mask)))
    centre = painted[:, :3, 32, 32]
    assert (centre[0] - centre[1]).abs().max() > 0.05 and (centre[1] - centre[2]).abs().max() > 0.05
    torch.testing.assert_close(painted[:, :3][~hole], grey[:, :3][~hole])
    # the hole's content still does not reach the output; the ground-truth pass is unmasked
    noisy = torch.where(mask.bool(), torch.rand_like(photos), photos)
    with torch.no_grad():
        torch.testing.assert_close(ring.eval()(noisy, mask).image, ring(photos, mask).image)
    torch.testing.assert_close(
        ring._network_input(photos, mask, False)[:, :3], from_unit_range(photos)
    )
    with pytest.raises(ValueError, match="hole_fill"):
        UNetGenerator(image_size=64, hole_fill="mean")

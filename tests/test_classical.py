"""The OpenCV baselines behind the generator call, and their model configs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers import compose_config
from hydra.utils import instantiate

from inpaintgan.classical import ClassicalInpainter


def _batch(height: int = 37, width: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = (torch.rand(2, 3, height, width, generator=g) * 255).round() / 255
    mask = torch.zeros(2, 1, height, width)
    mask[0, :, 10:20, 12:30] = 1
    mask[1, :, 3:9, 5:9] = 1
    return image, mask


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_matches_cv2_inpaint_per_image(method: str) -> None:
    image, mask = _batch()
    out = ClassicalInpainter(method=method, radius=3)(image, mask).image
    assert out.shape == image.shape and out.dtype == image.dtype
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    for i in range(2):
        array = (image[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        hole = mask[i, 0].numpy().astype(np.uint8)
        expected = cv2.inpaint(array, hole, 3.0, flag).astype(np.float32) / 255
        assert np.array_equal(out[i].permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_fills_a_flat_image_with_its_colour(method: str) -> None:
    image = torch.full((1, 3, 32, 32), 0.6)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    damaged = image * (1 - mask)  # the hole content must not matter
    out = ClassicalInpainter(method=method)(damaged, mask).image
    assert torch.allclose(out, image, atol=2 / 255)
    assert out.min() >= 0 and out.max() <= 1


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown inpainting method"):
        ClassicalInpainter(method="patchmatch")


@pytest.mark.parametrize("name", ["telea", "ns"])
def test_model_configs_build_the_baseline_and_carry_no_generator(name: str) -> None:
    cfg = compose_config("evaluate", [f"model={name}"])
    assert cfg.model.name == name
    assert cfg.model.generator is None  # what training checks to refuse a baseline
    inpainter = instantiate(cfg.model.inpainter)
    assert isinstance(inpainter, ClassicalInpainter) and inpainter.method == name


def test_mean_fill_is_exact_on_a_constant_image():
    image = torch.full((2, 3, 32, 32), 0.3)
    image[1] = torch.tensor([0.1, 0.5, 0.9])[:, None, None]
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    out = ClassicalInpainter("mean_fill", radius=4)(image, mask).image
    assert torch.allclose(out, image)


def test_mean_fill_uses_the_ring_around_the_hole():
    """The fill is the mean of the known pixels within `radius` px of the hole, not of the
    whole image; with no known pixel it is mid-grey."""
    image = torch.zeros(1, 3, 32, 32)
    image[..., 6:26, 6:26] = 1.0  # a bright square around the hole, dark far away
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 10:22, 10:22] = 1
    out = ClassicalInpainter("mean_fill", radius=4)(image, mask).image
    assert torch.allclose(out[..., 10:22, 10:22], torch.ones(1, 3, 12, 12))
    assert torch.equal(out[..., :10, :], image[..., :10, :])
    full = ClassicalInpainter("mean_fill", radius=4)(image, torch.ones(1, 1, 32, 32)).image
    assert torch.allclose(full, torch.full_like(full, 0.5))

"""`inpaintgan.predict`: pairing, any image size, max_side, bad inputs, exit codes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import compose_predict as _cfg
from helpers import make_tiny_checkpoint, run_cli
from PIL import Image
from torch import nn

from inpaintgan.checkpoints import CheckpointError
from inpaintgan.data.datasets import sample_root
from inpaintgan.data.masks import CenterMask
from inpaintgan.errors import UsageError
from inpaintgan.inpainter import (
    Inpainter,
    inpaint_any_size,
    pad_to_multiple,
    save_png,
    size_requirements,
)
from inpaintgan.models.base import GeneratorOutput
from inpaintgan.models.context_encoder import ContextEncoder
from inpaintgan.models.unet import UNetGenerator
from inpaintgan.pairing import collect_jobs
from inpaintgan.predict import predict


def _photo(path: Path, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image written losslessly (PNG) or as JPEG, by suffix."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    image.save(path)
    return np.asarray(Image.open(path).convert("RGB"))


def _mask(path: Path, width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = 255
    Image.fromarray(mask).save(path)
    return mask > 0


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_folder_pairs_masks_keeps_sizes_and_known_pixels(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    a = _photo(src / "a.png", 101, 67)
    a_hole = _mask(src / "a_mask.png", 101, 67, (20, 30, 45, 70))
    b = _photo(src / "b.jpg", 48, 80, seed=1)
    b_hole = _mask(src / "b_mask.png", 48, 80, (5, 5, 30, 20))
    done, failed = predict(_cfg([f"input={src}", f"out={out}", "model=telea"]))
    assert (done, failed) == (2, 0)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    for original, hole, name in ((a, a_hole, "a.png"), (b, b_hole, "b.png")):
        result = _read(out / name)
        assert result.shape == original.shape
        assert np.array_equal(result[~hole], original[~hole])  # known pixels untouched
        assert not np.array_equal(result[hole], np.zeros_like(result[hole]))


def test_mask_config_fills_images_without_mask_file(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    original = _photo(src / "c.webp", 64, 64)
    out = tmp_path / "out"
    assert predict(_cfg([f"input={src}", f"out={out}", "model=ns"])) == (0, 1)
    assert predict(_cfg([f"input={src}", f"out={out}", "model=ns", "mask=center"])) == (1, 0)
    result = _read(out / "c.png").astype(int)
    assert result.shape == original.shape
    assert np.abs(result[:16] - original[:16]).max() <= 2  # outside the center square (webp)


def test_single_file_with_mask_file_and_file_output(tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    original = _photo(image, 70, 50)
    hole = _mask(tmp_path / "hole.png", 70, 50, (10, 10, 30, 40))
    target = tmp_path / "result" / "filled.png"
    overrides = [f"input={image}", f"mask_file={tmp_path / 'hole.png'}", f"out={target}"]
    assert predict(_cfg([*overrides, "model=telea"])) == (1, 0)
    assert np.array_equal(_read(target)[~hole], original[~hole])


@pytest.mark.parametrize("model", ["tiny_unet", "telea"])
def test_sample_photos_end_to_end(model: str, tmp_path: Path) -> None:
    """Two embedded photos (one cut to an odd size) with a tiny U-Net checkpoint or Telea."""
    src = tmp_path / "in"
    src.mkdir()
    photos = sorted(sample_root().glob("*.jpg"))[:2]
    Image.open(photos[0]).save(src / "first.png")
    Image.open(photos[1]).crop((3, 5, 253, 195)).save(src / "odd.png")  # 250x190
    chosen = (
        [f"ckpt={make_tiny_checkpoint(tmp_path / 'tiny.pt')}"]
        if model != "telea"
        else ["model=telea"]
    )
    out = tmp_path / "out"
    assert predict(_cfg([*chosen, f"input={src}", f"out={out}", "mask=center"])) == (2, 0)
    for name in ("first.png", "odd.png"):
        original, result = _read(src / name), _read(out / name)
        assert result.shape == original.shape
        height, width = original.shape[:2]
        known = CenterMask()(height, width, np.random.default_rng(0)) == 0
        assert np.array_equal(result[known], original[known])
        assert not np.array_equal(result[~known], original[~known])


class _Spy(nn.Module):
    """A 'generator' that records its input size and predicts a flat grey."""

    size_multiple = 32

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        self.seen.append(tuple(image.shape[-2:]))
        assert image.shape[-2] % self.size_multiple == 0 and image.shape[-1] % 32 == 0
        assert image.shape[-2:] == mask.shape[-2:]
        return GeneratorOutput(image=torch.full_like(image, 0.5))


def test_any_size_is_padded_to_the_multiple_and_cropped_back() -> None:
    spy = _Spy()
    inpainter = Inpainter(spy, "spy", torch.device("cpu"), spy.size_multiple)
    image, mask = torch.rand(1, 3, 45, 70), torch.zeros(1, 1, 45, 70)
    mask[..., 10:20, 10:30] = 1
    result = inpaint_any_size(inpainter, image, mask, max_side=None)
    assert spy.seen == [(64, 96)] and result.shape == image.shape
    assert torch.equal(result[mask.expand_as(image) == 0], image[mask.expand_as(image) == 0])
    assert torch.all(result[mask.expand_as(image) == 1] == 0.5)
    # Too small to reflect (pad >= side): replicated instead of failing.
    tiny_image, tiny_mask = pad_to_multiple(torch.rand(1, 3, 5, 7), torch.ones(1, 1, 5, 7), 32)
    assert tiny_image.shape[-2:] == (32, 32) and tiny_mask[..., 5:, :].sum() == 0


def test_size_requirements_of_the_real_generators() -> None:
    unet = UNetGenerator(depth=3, base_channels=4, max_channels=8, shift_level=1)
    ce = ContextEncoder(image_size=32, base_channels=4, max_channels=8, bottleneck_channels=8)
    assert size_requirements(unet) == (8, None)
    assert size_requirements(ce) == (1, 32)  # built for exactly 32x32: resized to it
    assert size_requirements(nn.Identity()) == (256, None)
    # the class says the same of a config before anything is built (train's size check)
    assert UNetGenerator.multiple_for(depth=3, shift_level=1) == unet.size_multiple == 8
    assert UNetGenerator.multiple_for(depth=None, shift_level=3) == 16  # 4 levels at least
    with pytest.raises(ValueError, match="too shallow"):
        UNetGenerator.multiple_for(depth=3, shift_level=3)
    image, mask = torch.rand(1, 3, 50, 41), torch.zeros(1, 1, 50, 41)
    mask[..., 20:30, 10:20] = 1
    for net in (unet, ce):
        multiple, fixed = size_requirements(net)
        result = Inpainter(net.eval(), "net", torch.device("cpu"), multiple, None, fixed)(
            image, mask
        )
        assert result.shape == image.shape
        assert torch.equal(result[..., :20, :], image[..., :20, :])


def test_max_side_inpaints_downscaled_and_upscales_only_the_fill() -> None:
    spy = _Spy()
    inpainter = Inpainter(spy, "spy", torch.device("cpu"), spy.size_multiple)
    image, mask = torch.rand(1, 3, 300, 200), torch.zeros(1, 1, 300, 200)
    mask[..., 100:150, 50:120] = 1
    result = inpaint_any_size(inpainter, image, mask, max_side=64)
    assert max(spy.seen[0]) <= 64 and result.shape == image.shape
    known = mask.expand_as(image) == 0
    assert torch.equal(result[known], image[known])
    # Inside the hole (away from its edge, where bicubic upscaling blends) the fill is 0.5.
    assert torch.allclose(result[..., 110:140, 60:110], torch.tensor(0.5), atol=1e-3)


def test_bad_inputs_are_reported_one_line_each_and_the_rest_is_processed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _photo(src / "good.png", 40, 40)
    _mask(src / "good_mask.png", 40, 40, (10, 10, 20, 20))
    _photo(src / "wrong_size.png", 40, 40)
    _mask(src / "wrong_size_mask.png", 30, 40, (10, 10, 20, 20))
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    _mask(src / "broken_mask.png", 40, 40, (10, 10, 20, 20))
    _photo(src / "bad_mask.png", 40, 40)
    (src / "bad_mask_mask.png").write_bytes(b"not a png")
    _photo(src / "empty.png", 40, 40)
    _mask(src / "empty_mask.png", 40, 40, (0, 0, 0, 0))
    capsys.readouterr()
    done, failed = predict(_cfg([f"input={src}", f"out={out}", "model=telea"]))
    assert (done, failed) == (1, 4)
    assert [p.name for p in out.iterdir()] == ["good.png"]
    errors = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(errors) == 4
    for name in ("wrong_size_mask.png", "broken.jpg", "bad_mask_mask.png", "empty_mask.png"):
        assert sum(name in line for line in errors) == 1, (name, errors)
    assert any("30x40" in line and "40x40" in line for line in errors)


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        collect_jobs(tmp_path / "missing", tmp_path / "out", None)
    with pytest.raises(UsageError, match="no images"):
        collect_jobs(tmp_path, tmp_path / "out", None)
    _photo(tmp_path / "x.png", 16, 16)
    with pytest.raises(UsageError, match="nothing to run"):
        predict(_cfg([f"input={tmp_path}", f"out={tmp_path / 'out'}", "mask=center"]))


def test_output_is_the_old_name_of_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _photo(src / "a.png", 32, 32)
    with caplog.at_level("WARNING", logger="inpaintgan.predict"):
        result = predict(_cfg([f"input={src}", f"output={out}", "model=telea", "mask=center"]))
    assert result == (1, 0) and (out / "a.png").is_file()
    assert [r.getMessage() for r in caplog.records] == [f"output is deprecated: use out={out}"]
    with pytest.raises(UsageError, match="give out= only"):
        predict(_cfg([f"input={src}", f"output={out}", f"out={tmp_path / 'x'}", "model=telea"]))


def test_cli_exit_code_1_when_a_file_fails_and_no_litter(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _photo(src / "ok.png", 32, 32)
    _mask(src / "ok_mask.png", 32, 32, (8, 8, 16, 16))
    (src / "bad.png").write_bytes(b"garbage")
    result = run_cli(
        "inpaintgan.predict", "model=telea", f"input={src}", f"out={tmp_path / 'out'}",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert (tmp_path / "out" / "ok.png").is_file()
    assert [line for line in result.stderr.splitlines() if "bad.png" in line] == [
        line for line in result.stderr.splitlines() if line.strip()
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]  # no outputs/, .hydra


def test_a_file_that_is_not_a_checkpoint_is_one_line_error(tmp_path: Path) -> None:
    _photo(tmp_path / "x.png", 16, 16)
    not_ckpt = tmp_path / "notes.pt"
    not_ckpt.write_text("not a checkpoint")
    with pytest.raises(CheckpointError) as info:  # main() prints it and exits 2
        predict(_cfg([f"ckpt={not_ckpt}", f"input={tmp_path}", f"out={tmp_path / 'o'}"]))
    assert "notes.pt" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 3, 5, 7)])
def test_save_png_writes_8_bit_rgb_of_either_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    """The one PNG writer (evaluate's images and predict's outputs): [3,H,W] or [1,3,H,W]
    in [0, 1], rounded to 8 bits, values outside [0, 1] clamped, no temporary file left."""
    image = torch.linspace(-0.2, 1.2, math.prod(shape)).reshape(shape)
    path = tmp_path / "sub" / "out.png"
    save_png(image, path)
    written = np.asarray(Image.open(path))
    flat = image[0] if image.ndim == 4 else image
    expected = (flat.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert written.dtype == np.uint8 and written.shape == (5, 7, 3)
    np.testing.assert_array_equal(written, expected)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]

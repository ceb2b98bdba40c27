"""images.py: every pixel format becomes upright 8-bit RGB; every broken file one clear error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from inpaintgan.data.images import ImageLoadError, load_mask, load_rgb

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def _halves(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image


def test_plain_rgb_jpeg(tmp_path):
    path = tmp_path / "a.jpg"
    _halves().save(path, quality=95)
    px = _pixels(load_rgb(path))
    assert px.shape == (20, 40, 3)
    assert np.abs(px[10, 5] - RED).max() < 10 and np.abs(px[10, 35] - BLUE).max() < 10


def test_greyscale_becomes_three_equal_channels(tmp_path):
    path = tmp_path / "g.png"
    Image.new("L", (8, 6), 77).save(path)
    px = _pixels(load_rgb(path))
    assert px.shape == (6, 8, 3) and (px == 77).all()


def test_rgba_is_composited_over_white(tmp_path):
    path = tmp_path / "rgba.png"
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    rgba.paste((0, 0, 0, 0), (5, 0, 10, 10))  # right half fully transparent black
    rgba.save(path)
    px = _pixels(load_rgb(path))
    assert (px[:, :5] == RED).all() and (px[:, 5:] == 255).all()


def test_palette_and_transparent_palette(tmp_path):
    path = tmp_path / "p.png"
    _halves().convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    px = _pixels(load_rgb(path))
    assert (px[10, 5] == RED).all() and (px[10, 35] == BLUE).all()

    path = tmp_path / "p_alpha.png"
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(0, (0, 0, 2, 4))
    pal.save(path, transparency=0)
    px = _pixels(load_rgb(path))
    assert (px[:, :2] == 255).all() and (px[:, 2:] == (0, 255, 0)).all()


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    px = _pixels(load_rgb(path))
    assert np.abs(px[8, 8] - RED).max() < 16


def test_16bit_is_scaled_not_clipped(tmp_path):
    grey = np.array([[0, 257 * 128, 65535]], np.uint16)
    path = tmp_path / "g16.png"
    cv2.imwrite(str(path), grey)
    assert Image.open(path).mode.startswith("I")
    assert _pixels(load_rgb(path))[0, :, 0].tolist() == [0, 128, 255]

    bgr = np.zeros((4, 4, 3), np.uint16)
    bgr[..., 2], bgr[..., 1] = 65535, 257 * 64
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), bgr)
    assert _pixels(load_rgb(path))[0, 0].tolist() == [255, 64, 0]


def test_exif_rotation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: display rotated 90° clockwise
    _halves().save(path, exif=exif, quality=95)
    px = _pixels(load_rgb(path))
    assert px.shape == (40, 20, 3)  # upright: portrait, the stored left half now on top
    assert np.abs(px[5, 10] - RED).max() < 10 and np.abs(px[35, 10] - BLUE).max() < 10


def test_jpeg_draft_keeps_enough_pixels(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1024, 768), (10, 20, 30)).save(path)
    image = load_rgb(path, draft_size=256)
    assert 256 <= min(image.size) < 768


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("random.jpg", bytes(np.random.default_rng(0).integers(0, 256, 500, np.uint8)), "not an"),
        ("notes.txt", b"hello, not an image\n", "not an"),
        ("empty.png", b"", "not an"),
    ],
)
def test_non_images_raise_one_line(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as err:
        load_rgb(path)
    message = str(err.value)
    assert str(path) in message and reason in message and "\n" not in message


def test_truncated_jpeg_raises(tmp_path):
    path = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(ImageLoadError, match="broken image") as err:
        load_rgb(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_raises(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_rgb(tmp_path / "nope.jpg")


def test_load_mask_binarises_white_as_missing(tmp_path):
    path = tmp_path / "m.png"
    grey = np.zeros((8, 8), np.uint8)
    grey[:, 4:] = 255
    grey[0, 0] = 100  # dark grey: known
    grey[0, 4] = 200  # light grey: missing
    Image.fromarray(grey).save(path)
    mask = load_mask(path)
    assert mask.dtype == np.float32 and mask.shape == (8, 8)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert mask[:, 4:].all() and not mask[:, :4].any()
    np.testing.assert_array_equal(load_mask(path, invert=True), 1 - mask)


def test_load_mask_resizes_nearest(tmp_path):
    path = tmp_path / "m.png"
    grey = np.zeros((10, 20), np.uint8)
    grey[:, 10:] = 255
    Image.fromarray(grey).convert("RGB").save(path)
    mask = load_mask(path, size=(32, 64))
    assert mask.shape == (32, 64) and set(np.unique(mask)) == {0.0, 1.0}
    assert mask[:, 32:].all() and not mask[:, :32].any()
    assert load_mask(path, size=16).shape == (16, 16)


def test_load_mask_16bit_and_alpha(tmp_path):
    path = tmp_path / "m16.png"
    cv2.imwrite(str(path), np.array([[0, 65535]], np.uint16))
    assert load_mask(path).tolist() == [[0.0, 1.0]]
    path = tmp_path / "ma.png"
    rgba = Image.new("RGBA", (2, 1), (255, 255, 255, 255))
    rgba.putpixel((1, 0), (255, 255, 255, 0))  # transparent counts as black
    rgba.save(path)
    assert load_mask(path).tolist() == [[1.0, 0.0]]


def test_load_mask_broken_raises(tmp_path):
    path = tmp_path / "m.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageLoadError, match="m.png"):
        load_mask(path)

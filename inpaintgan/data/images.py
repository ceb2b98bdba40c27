"""Robust opening of image and mask files.

Every file that reaches the model goes through :func:`load_rgb` (photos) or :func:`load_mask`
(hole masks). Both turn whatever is on disk (greyscale, palette, RGBA, CMYK, 16-bit,
EXIF-rotated) into one predictable form, and turn every way a file can be broken into a
single :class:`ImageLoadError` whose message is one line naming the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from inpaintgan.errors import DataError as DataError  # re-exported: its old home
from inpaintgan.errors import ImageLoadError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
"""The only decoders PIL may use on a file (whatever its name): PIL's others (EPS, which hands
the file to Ghostscript, TIFF, GIF, ICO ...) never see one. A two-picture camera JPEG (MPO)
is read by the JPEG decoder."""

# Modes whose samples go beyond 8 bits: PIL's own convert("RGB") clips them instead of scaling.
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    """An :class:`ImageLoadError` naming ``what`` when ``width * height`` exceeds
    ``max_pixels`` (None: no limit); read from the header, before anything is decoded."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageLoadError(
            f"{what}: {width}x{height} = {width * height / 1e6:.3g} megapixels is more than "
            f"max_pixels={max_pixels} ({max_pixels / 1e6:.3g} megapixels); raise max_pixels "
            "to allow it"
        )


def _open(path: str | Path, draft_size: int | None, max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode ``path`` (so truncation shows up here, not later); a pixel
    count above ``max_pixels`` is refused from the header, before decoding."""
    try:
        image = Image.open(path, formats=IMAGE_FORMATS)
        check_pixels(*image.size, max_pixels, str(path))
        if draft_size is not None and image.format == "JPEG":
            # DCT-domain downscaling while decoding: much faster for large JPEGs; the result
            # keeps both sides >= draft_size, so the later resize still has enough pixels.
            image.draft(image.mode, (draft_size, draft_size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. PIL's "Corrupt EXIF data" chatter
            image.load()
            return ImageOps.exif_transpose(image)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"{path}: not an image file this package reads (PNG, JPEG, WebP or BMP)"
        ) from None
    except Image.DecompressionBombError as err:
        raise ImageLoadError(f"{path}: too large ({err})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ImageLoadError(f"{path}: broken image ({reason})") from None


def _wide_to_8bit(image: Image.Image) -> Image.Image:
    """Scale a 16/32-bit or float greyscale image to 8 bits (PIL would clip at 255)."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and values.max() <= 1.0 else 255.0
    else:  # integer modes: 16-bit PNG/TIFF data, whatever the container width
        top = 65535.0
    scaled = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK → sRGB through the embedded ICC profile when there is one (PIL's fallback is naive)."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return image.convert("RGB")


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode → 8-bit RGB; transparency is composited over ``background`` (white)."""
    if image.mode in _WIDE_MODES:
        image = _wide_to_8bit(image)
    if image.mode == "CMYK":
        return _cmyk_to_rgb(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, background)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image if image.mode == "RGB" else image.convert("RGB")


def load_rgb(
    path: str | Path, draft_size: int | None = None, max_pixels: int | None = None
) -> Image.Image:
    """Open ``path`` as an upright 8-bit RGB image.

    ``draft_size`` lets JPEG decoding shrink the image on the fly as long as both sides stay
    at least that large. Raises :class:`ImageLoadError` for missing, truncated, non-image or
    otherwise unreadable files, and for images of more than ``max_pixels`` pixels (checked
    before decoding; None = no limit).
    """
    image = _open(path, draft_size, max_pixels)
    try:
        return to_rgb(image)
    except (OSError, ValueError) as err:
        raise ImageLoadError(f"{path}: cannot convert mode {image.mode} to RGB ({err})") from None


def load_mask(
    path: str | Path,
    size: int | tuple[int, int] | None = None,
    invert: bool = False,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Read a mask file as float32 ``[H, W]`` in {0, 1}: white (> 50 % grey) = 1 = missing.

    ``size`` (an int for a square, or ``(height, width)``) resizes with nearest neighbour so
    a mask drawn at another resolution stays binary. ``invert`` is for mask sets drawn with
    black holes. Transparent pixels count as black. Raises :class:`ImageLoadError` (also
    above ``max_pixels``, as :func:`load_rgb`).
    """
    image = _open(path, None, max_pixels)
    if image.mode in _WIDE_MODES:
        image = _wide_to_8bit(image)
    try:
        if image.mode in ("P", "LA", "PA", "RGBA", "RGBa"):
            image = to_rgb(image, background=(0, 0, 0))
        grey = image.convert("L")
    except (OSError, ValueError) as err:
        raise ImageLoadError(f"{path}: cannot read mode {image.mode} as a mask ({err})") from None
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else size
        if grey.size != (width, height):
            grey = grey.resize((width, height), Image.Resampling.NEAREST)
    mask = np.asarray(grey) > 127
    if invert:
        mask = ~mask
    return mask.astype(np.float32)

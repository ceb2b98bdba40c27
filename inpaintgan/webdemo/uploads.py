"""Uploaded bytes → arrays, with every way an upload can be wrong turned into one
:class:`UploadError` (an HTTP status and a one-line message for the page).

The pixel count is checked from the file header *before* anything is decoded, so a
decompression bomb (a small file that claims a huge image) costs nothing. Only PNG, JPEG,
WebP and BMP are decoded (:data:`UPLOAD_FORMATS`): PIL's other readers (EPS, which hands
the file to Ghostscript, TIFF, GIF, ICO ...) never see an upload.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inpaintgan.data.images import IMAGE_FORMATS, to_rgb
from inpaintgan.errors import InputError

__all__ = [
    "UPLOAD_FORMATS",
    "UploadError",
    "decode_mask",
    "decode_photo",
    "encode_png",
    "megabytes",
    "megapixels",
]


UPLOAD_FORMATS = IMAGE_FORMATS
"""The PIL formats an upload may be (PIL reads a two-picture camera JPEG, MPO, as JPEG)."""


class UploadError(InputError):
    """An upload the demo cannot use: ``status`` is the HTTP status (400 bad content,
    413 too large), the message one line for the page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def megabytes(size: int) -> str:
    """``size`` bytes in MB, three significant digits (``12.3 MB``, ``0.25 MB``)."""
    return f"{size / 2**20:.3g} MB"


def megapixels(count: float) -> str:
    """A pixel count in megapixels, three significant digits."""
    return f"{count / 1e6:.3g} megapixels"


def _open(data: bytes, what: str, max_pixels: int) -> Image.Image:
    """Open ``data`` lazily, check its pixel count, then decode it fully."""
    if not data:
        raise UploadError(f"{what} is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning, EXIF chatter
        try:
            image = Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS)
        except UnidentifiedImageError:
            raise UploadError(
                f"{what} is not an image file this demo takes (PNG, JPEG, WebP or BMP only)"
            ) from None
        except Image.DecompressionBombError:
            raise UploadError(
                f"{what} claims more pixels than PIL allows (a decompression bomb?); "
                f"this demo takes at most {megapixels(max_pixels)}",
                status=413,
            ) from None
        except (OSError, ValueError, SyntaxError) as err:
            raise UploadError(f"{what} is a broken image ({_reason(err)})") from None
        width, height = image.size
        if width * height > max_pixels:
            raise UploadError(
                f"{what} is {width}x{height} = {megapixels(width * height)}; "
                f"this demo takes at most {megapixels(max_pixels)}",
                status=413,
            )
        try:
            image.load()
            return ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError, EOFError) as err:
            raise UploadError(f"{what} is a broken image ({_reason(err)})") from None


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def decode_photo(data: bytes, max_pixels: int, name: str = "the photo") -> np.ndarray:
    """The uploaded photo as upright 8-bit RGB ``[H, W, 3]`` (transparency over white)."""
    image = _open(data, name, max_pixels)
    try:
        return np.asarray(to_rgb(image))
    except (OSError, ValueError) as err:
        raise UploadError(f"{name}: cannot convert mode {image.mode} to RGB ({err})") from None


def decode_mask(data: bytes, size: tuple[int, int], max_pixels: int) -> np.ndarray:
    """The painted mask as bool ``[H, W]``, True = fill: opaque bright pixels (> 50 % grey
    after compositing over black), as ``load_mask`` reads mask files. ``size`` is the
    photo's ``(height, width)``; a mask of another size or with nothing painted is refused.
    """
    image = _open(data, "the mask", max_pixels)
    try:
        if image.mode in ("P", "LA", "PA", "RGBA", "RGBa"):
            image = to_rgb(image, background=(0, 0, 0))
        grey = np.asarray(image.convert("L"))
    except (OSError, ValueError) as err:
        raise UploadError(f"the mask: cannot read mode {image.mode} ({err})") from None
    if grey.shape != tuple(size):
        raise UploadError(
            f"the mask is {grey.shape[1]}x{grey.shape[0]} but the photo is {size[1]}x{size[0]}"
        )
    mask = grey > 127
    if not mask.any():
        raise UploadError("the mask is empty: paint the region to fill first")
    return mask


def encode_png(array: np.ndarray) -> bytes:
    """``[H, W, 3]`` uint8 → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()

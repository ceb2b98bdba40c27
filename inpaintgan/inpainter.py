"""Inference behind one call: a trained generator, an exported model (ONNX, TorchScript) or
a classical baseline as an :class:`Inpainter` (``inpainter(image, mask) -> composite``), the
padding and resizing that let it take any image size, and the one PNG writer of the commands.

The three-line Python API (README, "Use a trained model from Python")::

    from inpaintgan import load_inpainter
    fill = load_inpainter("last.ckpt")      # or an .onnx / TorchScript export, or "telea"
    out = fill(image, mask)                 # PIL in → PIL out, array in → array out

``inpaintgan.evaluate`` (scores on a data set) and ``inpaintgan.predict`` (your own images)
are thin commands over this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import Tensor, nn

from inpaintgan.checkpoints import build_classical, load_generator
from inpaintgan.errors import InputError, UsageError
from inpaintgan.exporting import file_format, load_onnx, load_torchscript
from inpaintgan.io import atomic_file
from inpaintgan.models.base import composite, size_requirements
from inpaintgan.pixels import array_to_batch, to_uint8_image

__all__ = [
    "CLASSICAL_MODELS",
    "DEFAULT_MAX_PIXELS",
    "Inpainter",
    "inpaint_any_size",
    "load_inpainter",
    "pad_to_multiple",
    "resize_inpaint",
    "resolve_device",
    "save_png",
    "size_requirements",
]

CLASSICAL_MODELS = ("telea", "ns", "mean_fill")
"""Names :func:`load_inpainter` accepts in place of a file (their configs:
``conf/classical/model/<name>.yaml``)."""

DEFAULT_MAX_PIXELS = 50_000_000
"""The largest image (width x height) the Python API, ``predict`` and the demo take by
default; larger ones are refused in one line (raise ``max_pixels`` to allow them)."""


def resolve_device(device: str | None) -> torch.device:
    """``auto`` (or None): the GPU when there is one, else the CPU. A device that this
    machine does not have (``cuda`` without a GPU, ``cuda:3`` with two) is a UsageError."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(str(device))
    except RuntimeError as err:
        raise UsageError(
            f"device={device} is not a device name (auto, cpu, cuda, cuda:1 ...)"
        ) from err
    if target.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(
                f"device={device}: this machine has no CUDA GPU; use device=cpu or auto"
            )
        if target.index is not None and target.index >= count:
            raise UsageError(f"device={device}: this machine has {count} CUDA GPU(s) (cuda:0..)")
    elif target.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device={device}: MPS is not available here; use device=cpu or auto")
    return target


@dataclass
class Inpainter:
    """A generator, an export or a classical baseline behind one call: ``inpainter(image, mask)``.

    Value ranges: float images must lie in ``[0, 1]`` and uint8 images in ``0..255``; a float
    image with values outside ``[0, 1]`` (e.g. 0..255 floats, which used to be clamped to
    white without a word) or with NaN / infinite values is refused in one line
    (:class:`InputError`), never clamped; so is a float mask with NaN. Images of more than
    ``max_pixels`` pixels (default :data:`DEFAULT_MAX_PIXELS`, as ``predict`` and the demo;
    None = no limit) are refused before any work.

    Batches: ``[B,3,H,W]`` image tensors in ``[0, 1]`` (or uint8) and ``[B,1,H,W]`` masks
    (1 = missing) of any size give the composite (known pixels pasted back), float in
    ``[0, 1]`` at that size, on ``device``.
    The input is padded (reflect) to ``size_multiple`` and cropped back; a network built
    for one ``fixed_size`` only (Context Encoder) gets the image resized to it, and its fill
    is resized back.

    One image, any kind (:meth:`fill`): a PIL image, an ``[H,W,3]`` array (uint8, or float in
    [0, 1]) or a ``[3,H,W]`` tensor, with a mask given as a PIL image, an ``[H,W]`` array or
    tensor (bool; uint8 with 1 or 255 = missing; float > 0.5 = missing) gives the composite
    as the same kind: PIL in → PIL out, array in → array of the same dtype out. Longer sides
    above ``max_side`` are inpainted downscaled, the fill upscaled back (as ``predict``).
    """

    module: nn.Module
    name: str
    device: torch.device
    size_multiple: int = 1
    checkpoint: str | None = None
    fixed_size: int | None = None
    max_side: int | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def _check_size(self, height: int, width: int) -> None:
        if self.max_pixels is not None and height * width > self.max_pixels:
            raise InputError(
                f"the image is {width}x{height} = {width * height / 1e6:.3g} megapixels, more "
                f"than max_pixels={self.max_pixels}; pass a larger max_pixels to "
                "load_inpainter to allow it"
            )

    def __call__(self, image: Any, mask: Any) -> Any:
        if isinstance(image, Tensor) and image.ndim == 4:
            if not isinstance(mask, Tensor):
                raise UsageError(
                    f"a batch of images [B,3,H,W] needs a mask tensor [B,1,H,W], got "
                    f"{type(mask).__name__}"
                )
            self._check_size(*image.shape[-2:])
            return self._batch(_checked_image(image), _checked_mask(mask))
        return self.fill(image, mask)

    @torch.inference_mode()
    def _batch(self, image: Tensor, mask: Tensor) -> Tensor:
        image, mask = image.to(self.device), mask.to(self.device).float()
        image = image.float() / 255 if image.dtype == torch.uint8 else image.float()
        if self.fixed_size and tuple(image.shape[-2:]) != (self.fixed_size, self.fixed_size):
            return resize_inpaint(self._run, image, mask, (self.fixed_size, self.fixed_size))
        return self._run(image, mask)

    def fill(self, image: Any, mask: Any) -> Any:
        """Inpaint one image of any kind and size; the composite comes back as that kind
        (see the class docstring). A mask of another size is a one-line InputError."""
        if isinstance(image, Image.Image):
            self._check_size(image.height, image.width)
        batch, restore = _image_batch(image)
        self._check_size(*batch.shape[-2:])
        hole = _mask_batch(mask, tuple(batch.shape[-2:]))
        return restore(inpaint_any_size(self, batch, hole, self.max_side))

    def _run(self, image: Tensor, mask: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        padded_image, padded_mask = pad_to_multiple(image, mask, self.size_multiple)
        output = self.module(padded_image, padded_mask).image[..., :height, :width]
        return composite(output.float().clamp(0, 1), image, mask)


def _checked_image(image: Tensor) -> Tensor:
    """``image`` unchanged when its values are usable: uint8 any, float finite and within
    [0, 1]; else a one-line InputError saying which range is expected."""
    if image.dtype == torch.uint8 or not image.is_floating_point():
        return image
    if image.numel() == 0:
        return image
    if not bool(torch.isfinite(image).all()):
        raise InputError(
            "the image holds NaN or infinite values: give finite floats in [0, 1] "
            "(or uint8 in 0..255)"
        )
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
        raise InputError(
            f"a float image must lie in [0, 1], got values from {low:.4g} to {high:.4g}: "
            "divide 0..255 floats by 255, or pass uint8"
        )
    return image


def _checked_mask(mask: Tensor) -> Tensor:
    """``mask`` unchanged unless it is a float mask with NaN / infinite values (InputError)."""
    if mask.is_floating_point() and not bool(torch.isfinite(mask).all()):
        raise InputError("the mask holds NaN or infinite values: give 0 = known, 1 = missing")
    return mask


def _rgb_array(array: np.ndarray) -> np.ndarray:
    """``[H,W]``, ``[H,W,1]``, ``[H,W,3]`` or ``[H,W,4]`` → ``[H,W,3]`` (alpha dropped)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise UsageError(f"an image array must be [H,W,3] (or [H,W], [H,W,4]), got {array.shape}")
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array[:, :, :3]


def _image_batch(image: Any) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """One image of any supported kind → ``[1,3,H,W]`` float in [0, 1] on the CPU, and the
    function that turns a composite of that shape back into the same kind."""
    if isinstance(image, Image.Image):
        batch = array_to_batch(np.asarray(image.convert("RGB")))
        return batch, lambda out: Image.fromarray(to_uint8_image(out))
    if isinstance(image, np.ndarray):
        rgb = _rgb_array(image)
        if rgb.dtype == np.uint8:
            return array_to_batch(rgb), to_uint8_image
        if not np.issubdtype(rgb.dtype, np.floating):
            raise UsageError(f"an image array must be uint8 or float in [0, 1], got {rgb.dtype}")
        batch = _checked_image(torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None])
        dtype = rgb.dtype
        return batch, lambda out: out[0].permute(1, 2, 0).cpu().numpy().astype(dtype)
    if isinstance(image, Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise UsageError(
                f"an image tensor must be [3,H,W] (or a batch [B,3,H,W]), got {tuple(image.shape)}"
            )
        device, dtype = image.device, image.dtype
        if dtype == torch.uint8:
            return (
                image[None].float().cpu() / 255,
                lambda out: torch.from_numpy(to_uint8_image(out)).permute(2, 0, 1).to(device),
            )
        if not image.is_floating_point():
            raise UsageError(f"an image tensor must be uint8 or float in [0, 1], got {dtype}")
        return _checked_image(image[None].float().cpu()), lambda out: out[0].to(device, dtype)
    raise UsageError(
        f"cannot inpaint a {type(image).__name__}: give a PIL image, a numpy array [H,W,3] "
        "or a tensor [3,H,W] / [B,3,H,W]"
    )


def _mask_batch(mask: Any, size: tuple[int, int]) -> Tensor:
    """A mask of any supported kind → ``[1,1,H,W]`` float in {0, 1} (1 = missing).

    PIL: white (> 50 % grey) = missing, as mask files; bool: True; integers: 1 or 255 (any
    value > 127, or > 0 when the largest is 1); floats: > 0.5. ``[H,W,C]`` uses channel 0.
    """
    if isinstance(mask, Image.Image):
        array: Any = np.asarray(mask.convert("L")) > 127
    elif isinstance(mask, np.ndarray | Tensor):
        array = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else mask
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]  # [1,H,W]
        elif array.ndim == 3:
            array = array[:, :, 0]  # [H,W,C]
        if array.ndim != 2:
            raise UsageError(f"a mask must be [H,W] (or [1,H,W], [H,W,C]), got {mask.shape}")
        if array.dtype == np.bool_:
            pass
        elif np.issubdtype(array.dtype, np.integer):
            array = array > (127 if array.size and array.max() > 1 else 0)
        elif np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise InputError(
                    "the mask holds NaN or infinite values: give 0 = known, 1 = missing"
                )
            array = array > 0.5
        else:
            raise UsageError(f"a mask must be bool, integer or float, got {array.dtype}")
    else:
        raise UsageError(
            f"cannot use a {type(mask).__name__} as a mask: give a PIL image, an array or a tensor"
        )
    if tuple(array.shape) != tuple(size):
        raise InputError(
            f"the mask is {array.shape[1]}x{array.shape[0]} but the image is {size[1]}x{size[0]}"
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]


def resize_inpaint(
    run: Callable[[Tensor, Tensor], Tensor], image: Tensor, mask: Tensor, size: tuple[int, int]
) -> Tensor:
    """Inpaint a resized copy with ``run`` and paste its fill, resized back, into ``image``.

    Downscaling takes any partly missing pixel as missing (area average > 0), so thin
    strokes survive; known pixels of the result are those of ``image`` at full resolution.
    """
    small_image = F.interpolate(image, size=size, mode="bilinear", antialias=True).clamp(0, 1)
    small_mask = (F.interpolate(mask, size=size, mode="area") > 0).to(mask.dtype)
    small = run(small_image, small_mask)
    fill = F.interpolate(small, size=image.shape[-2:], mode="bicubic").clamp(0, 1)
    return composite(fill, image, mask)


def pad_to_multiple(image: Tensor, mask: Tensor, multiple: int) -> tuple[Tensor, Tensor]:
    """Pad bottom/right to a multiple of ``multiple``: the image by reflection (replication
    where the image is too small to reflect), the mask with 0 (padded pixels are known)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return image, mask
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image, (0, pad_w, 0, pad_h), mode=mode), F.pad(mask, (0, pad_w, 0, pad_h))


def load_inpainter(
    ckpt: str | os.PathLike | None = None,
    model_cfg: DictConfig | None = None,
    device: str | None = "auto",
    *,
    max_side: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Inpainter:
    """An :class:`Inpainter` for a model file, or for a classical baseline.

    ``ckpt``: a training checkpoint (``.ckpt``), an exported generator (``.pt``, weights +
    config), an ONNX model (through onnxruntime, an optional dependency) or a TorchScript
    file from ``python -m inpaintgan.export``; the kind is read from the file's content.
    A classical baseline's name (``telea``, ``ns``, ``mean_fill``) in place of a file builds
    it from ``conf/classical/model/<name>.yaml``. ``model_cfg``: a classical model config instead
    (``model=telea|ns|mean_fill`` of the commands). ``device``: ``auto`` = the GPU when there
    is one. ``max_side``: see :class:`Inpainter` (single images only; None = no limit).
    ``max_pixels``: larger images are refused (:data:`DEFAULT_MAX_PIXELS`; None = no limit).
    Configs read from a file are checked against an allow-list before anything is built
    (:mod:`inpaintgan.checkpoints`).
    """
    target = resolve_device(device)
    ckpt = None if ckpt is None or ckpt == "" else os.fspath(ckpt)
    if ckpt in CLASSICAL_MODELS and model_cfg is None and not Path(ckpt).exists():
        from inpaintgan.config import CLASSICAL_CONFIG_DIR

        model_cfg, ckpt = OmegaConf.load(Path(CLASSICAL_CONFIG_DIR) / f"{ckpt}.yaml"), None
    classical = model_cfg is not None and model_cfg.get("inpainter") is not None
    if ckpt and model_cfg is not None:
        raise UsageError(
            "give either ckpt=PATH or a classical model=telea|ns|mean_fill, not both "
            "(a checkpoint carries its own model config)"
        )
    if ckpt:
        kind = file_format(ckpt)
        if kind != "checkpoint":
            exported = load_onnx(ckpt, target) if kind == "onnx" else load_torchscript(ckpt, target)
            info = exported.info
            return Inpainter(
                exported,
                info.name,
                target,
                info.size_multiple,
                ckpt,
                info.fixed_size,
                max_side,
                max_pixels,
            )
        generator, config = load_generator(ckpt, map_location=target)
        name = config.get("model", {}).get("name") or Path(ckpt).stem
        multiple, fixed = size_requirements(generator)
        return Inpainter(generator, str(name), target, multiple, ckpt, fixed, max_side, max_pixels)
    if classical:
        where = f"model={model_cfg.get('name') or '?'}"
        module = build_classical(model_cfg.inpainter, where).to(target).eval()
        name = model_cfg.get("name") or type(module).__name__
        multiple, fixed = size_requirements(module)
        return Inpainter(module, str(name), target, multiple, None, fixed, max_side, max_pixels)
    if model_cfg is not None:
        raise UsageError(
            f"model={model_cfg.get('name', '?')} needs trained weights: pass ckpt=PATH "
            "(model= alone selects only the classical baselines telea, ns, mean_fill)"
        )
    raise UsageError(
        "nothing to run: pass ckpt=PATH (a trained or exported checkpoint) "
        "or model=telea|ns|mean_fill"
    )


def inpaint_any_size(
    inpainter: Inpainter, image: Tensor, mask: Tensor, max_side: int | None
) -> Tensor:
    """Composite of ``image`` at its own size (on the CPU); above ``max_side`` the network
    sees a downscaled copy and only its fill is upscaled back (bounded memory)."""
    image, mask = image.to(inpainter.device), mask.to(inpainter.device)
    height, width = image.shape[-2:]
    if not max_side or max(height, width) <= max_side:
        return inpainter(image, mask).cpu()
    scale = max_side / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize_inpaint(inpainter, image, mask, size).cpu()


def save_png(image: Tensor, path: str | os.PathLike) -> None:
    """Write ``[3,H,W]`` (or ``[1,3,H,W]``) in [0, 1] as an 8-bit PNG, creating its folder.

    Through :func:`inpaintgan.io.atomic_file`: a failed write leaves neither a partial PNG
    nor a temporary file behind, and raises the error unchanged.
    """
    array = to_uint8_image(image)
    with atomic_file(path) as handle:
        Image.fromarray(array).save(handle, format="PNG")

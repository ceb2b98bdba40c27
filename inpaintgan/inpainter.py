"""Inference behind one call: a trained generator or a classical baseline as an
:class:`Inpainter` (``inpainter(image, mask) -> composite``), the padding and resizing that
let it take any image size, and the one PNG writer of the commands.

``inpaintgan.evaluate`` (scores on a data set) and ``inpaintgan.predict`` (your own images)
are thin commands over this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image
from torch import Tensor, nn

from inpaintgan.checkpoints import load_generator
from inpaintgan.errors import UsageError
from inpaintgan.io import atomic_file
from inpaintgan.models.base import composite

__all__ = [
    "DEFAULT_SIZE_MULTIPLE",
    "Inpainter",
    "inpaint_any_size",
    "load_inpainter",
    "pad_to_multiple",
    "resize_inpaint",
    "resolve_device",
    "save_png",
    "size_requirements",
]

DEFAULT_SIZE_MULTIPLE = 256
"""Size multiple assumed for a generator without a ``size_multiple`` attribute."""


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
    """A generator or classical baseline behind one call: ``inpainter(image, mask)``.

    Takes ``[B,3,H,W]`` images in ``[0, 1]`` and ``[B,1,H,W]`` masks (1 = missing) of any
    size and returns the composite (known pixels pasted back) at that size, on ``device``.
    The input is padded (reflect) to ``size_multiple`` and cropped back; a network built
    for one ``fixed_size`` only (Context Encoder) gets the image resized to it, and its fill
    is resized back.
    """

    module: nn.Module
    name: str
    device: torch.device
    size_multiple: int = 1
    checkpoint: str | None = None
    fixed_size: int | None = None

    @torch.inference_mode()
    def __call__(self, image: Tensor, mask: Tensor) -> Tensor:
        image, mask = image.to(self.device).float(), mask.to(self.device).float()
        if self.fixed_size and tuple(image.shape[-2:]) != (self.fixed_size, self.fixed_size):
            return resize_inpaint(self._run, image, mask, (self.fixed_size, self.fixed_size))
        return self._run(image, mask)

    def _run(self, image: Tensor, mask: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        padded_image, padded_mask = pad_to_multiple(image, mask, self.size_multiple)
        output = self.module(padded_image, padded_mask).image[..., :height, :width]
        return composite(output.float().clamp(0, 1), image, mask)


def size_requirements(module: nn.Module) -> tuple[int, int | None]:
    """``(size_multiple, fixed_size)`` of a network, read from its attributes.

    ``size_multiple`` / ``fixed_size`` when the module declares them; otherwise a U-Net
    with ``depth`` levels needs multiples of ``2**depth``, a network with only an
    ``image_size`` runs at exactly that size, and anything else gets multiples of
    :data:`DEFAULT_SIZE_MULTIPLE`.
    """
    if hasattr(module, "size_multiple") or hasattr(module, "fixed_size"):
        return int(getattr(module, "size_multiple", 1) or 1), getattr(module, "fixed_size", None)
    if isinstance(getattr(module, "depth", None), int):
        return 2**module.depth, None
    if isinstance(getattr(module, "image_size", None), int):
        return 1, module.image_size
    return DEFAULT_SIZE_MULTIPLE, None


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
    ckpt: str | None, model_cfg: DictConfig | None, device: str | None = "auto"
) -> Inpainter:
    """The checkpoint's generator, or the classical baseline of ``model=telea|ns|mean_fill``."""
    target = resolve_device(device)
    classical = model_cfg is not None and model_cfg.get("inpainter") is not None
    if ckpt and model_cfg is not None:
        raise UsageError(
            "give either ckpt=PATH or a classical model=telea|ns|mean_fill, not both "
            "(a checkpoint carries its own model config)"
        )
    if ckpt:
        generator, config = load_generator(ckpt, map_location=target)
        name = config.get("model", {}).get("name") or Path(ckpt).stem
        multiple, fixed = size_requirements(generator)
        return Inpainter(generator, str(name), target, multiple, str(ckpt), fixed)
    if classical:
        module = instantiate(model_cfg.inpainter).to(target).eval()
        name = model_cfg.get("name") or type(module).__name__
        multiple, fixed = size_requirements(module)
        return Inpainter(module, str(name), target, multiple, None, fixed)
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
    image = image[0] if image.ndim == 4 else image
    array = (image.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    with atomic_file(path) as handle:
        Image.fromarray(array).save(handle, format="PNG")

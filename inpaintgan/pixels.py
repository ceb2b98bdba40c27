"""Pixel representations: float ``[0, 1]`` tensors to 8-bit RGB arrays and back.

One owner for the two conversions every writer and reader of pictures needs: the loggers'
grids, the PNG files of ``predict`` / ``evaluate``, the Python API's PIL and uint8 results
and the web demo's answers all go through :func:`to_uint8_image`, so a float becomes the same
byte everywhere (clamped to [0, 1], times 255, rounded to the nearest level). Light on
purpose (torch and numpy only): the inference path imports it without the loggers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["array_to_batch", "to_uint8_image"]


def to_uint8_image(image: Tensor | np.ndarray) -> np.ndarray:
    """An image as 8-bit RGB, ``[H, W, 3]`` uint8: what every logger and PNG file receives.

    Takes a ``[3, H, W]`` / ``[1, H, W]`` / ``[H, W]`` tensor (or array), or a batch of one
    image ``[1, 3|1, H, W]``: floats are read as [0, 1], clamped, scaled by 255 and rounded
    to the nearest level; uint8 passes unchanged; one channel is repeated to three. Loggers
    differ in what they do with floats (wandb 0.31 truncates them to 0, a black image), so
    none of them is given floats.
    """
    tensor = torch.as_tensor(image).detach().cpu()
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3):
        raise ValueError(f"expected a [3|1, H, W] or [H, W] image, got shape {tuple(tensor.shape)}")
    if tensor.dtype != torch.uint8:
        tensor = (tensor.float().clamp(0, 1) * 255).round().to(torch.uint8)
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return np.ascontiguousarray(tensor.permute(1, 2, 0).numpy())


def array_to_batch(array: np.ndarray) -> Tensor:
    """``[H, W]`` or ``[H, W, C]`` array → ``[1, C, H, W]`` float tensor: uint8 divided by 255
    (into [0, 1]), other dtypes (a float or bool mask) as they are."""
    tensor = torch.from_numpy(np.array(array))  # a writable copy
    tensor = tensor.unsqueeze(-1) if tensor.ndim == 2 else tensor
    tensor = tensor.permute(2, 0, 1).unsqueeze(0).float()
    return tensor / 255 if array.dtype == np.uint8 else tensor

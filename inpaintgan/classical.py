"""Classical (non-learned) baselines: OpenCV's Telea and Navier-Stokes inpainting, and the
flat ``mean_fill`` (the hole painted with the mean colour of a ring of known pixels around
it): the floor every learned model has to clear.

They sit behind the same call as a generator, ``inpainter(image, mask).image``, so that
evaluation and prediction treat them like a trained model (``model=telea`` / ``model=ns``).
Nothing is trained and no checkpoint is needed.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from inpaintgan.models.base import GeneratorOutput, ring_mean_colour

OPENCV_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
METHODS = (*OPENCV_METHODS, "mean_fill")


def mean_fill(image: Tensor, mask: Tensor, ring: int = 8) -> Tensor:
    """Each image's hole filled with the mean colour of the known pixels within ``ring`` px
    (chessboard distance) of it; the mean of all known pixels when the ring is empty, mid-grey
    when nothing is known. ``[B,3,H,W]`` in [0,1], ``[B,1,H,W]`` (1 = missing) → ``[B,3,H,W]``.
    """
    hole = (mask > 0.5).to(image.dtype)
    return image * (1 - hole) + ring_mean_colour(image, mask, ring) * hole


def inpaint_array(image: np.ndarray, mask: np.ndarray, method: str = "telea", radius: int = 3):
    """Inpaint one ``uint8`` ``[H, W, 3]`` RGB image where ``mask`` ``[H, W]`` is non-zero."""
    return cv2.inpaint(image, (mask > 0).astype(np.uint8), float(radius), OPENCV_METHODS[method])


class ClassicalInpainter(nn.Module):
    """``cv2.inpaint`` or :func:`mean_fill` on a batch: ``[B,3,H,W]`` in ``[0, 1]`` and
    ``[B,1,H,W]`` (1 = missing). ``radius`` is OpenCV's neighbourhood, or mean_fill's ring.

    For OpenCV the image is quantised to 8 bits (what OpenCV accepts for colour images) and the
    prediction is returned in ``[0, 1]`` on the input's device; known pixels keep their
    8-bit values, so callers composite as for any generator.
    """

    size_multiple = 1  # any image size works as is

    def __init__(self, method: str = "telea", radius: int = 3) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown inpainting method {method!r}: use one of {sorted(METHODS)}")
        if radius < 1:
            raise ValueError(f"inpainting radius must be >= 1, got {radius}")
        self.method = method
        self.radius = int(radius)

    def extra_repr(self) -> str:
        return f"method={self.method}, radius={self.radius}"

    @torch.no_grad()
    def forward(self, image: Tensor, mask: Tensor) -> GeneratorOutput:
        if self.method == "mean_fill":
            return GeneratorOutput(image=mean_fill(image.float(), mask.float(), self.radius))
        images = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
        images = images.permute(0, 2, 3, 1).cpu().numpy()
        masks = (mask.detach()[:, 0] > 0.5).cpu().numpy().astype(np.uint8)
        filled = np.stack(
            [
                inpaint_array(img, m, self.method, self.radius)
                for img, m in zip(images, masks, strict=True)
            ]
        )
        out = torch.from_numpy(filled).permute(0, 3, 1, 2).to(image.device, image.dtype) / 255
        return GeneratorOutput(image=out, guidance_feature=None, guidance_hole=None)

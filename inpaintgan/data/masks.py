"""Hole-mask generators: ``generator(height, width, rng) -> float32 [H, W]`` in {0, 1}.

1 marks a missing pixel (white in mask files). Generators hold no random state of their
own: every draw comes from the ``rng`` the caller passes, which is what makes validation
masks a pure function of (seed, image index) whatever the worker or rank.
Stroke sizes are given for a 256-pixel image and scale with the shorter side.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from inpaintgan.data.images import IMAGE_EXTENSIONS, load_mask
from inpaintgan.errors import DataError

_REFERENCE_SIDE = 256.0


def _pair(value: Sequence[float] | float) -> tuple[float, float]:
    """``x`` or ``[lo, hi]`` → ``(lo, hi)``; configs may give either."""
    if isinstance(value, (int, float)):
        return float(value), float(value)
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"range [{lo}, {hi}] is empty")
    return lo, hi


class CenterMask:
    """The central rectangle covering ``fraction`` of each side (a 128² square at 256²).

    ``overlap`` shrinks the hole by that many pixels on every side, as Context Encoder and
    Shift-Net do (overlap 4 gives their 120² hole at 256²).
    """

    def __init__(self, fraction: float = 0.5, overlap: int = 0) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.fraction = float(fraction)
        self.overlap = int(overlap)

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        mask = np.zeros((height, width), np.float32)
        hole_h, hole_w = round(height * self.fraction), round(width * self.fraction)
        top, left = (height - hole_h) // 2, (width - hole_w) // 2
        o = self.overlap
        mask[top + o : top + hole_h - o, left + o : left + hole_w - o] = 1.0
        return mask


class RectMask:
    """``count`` random axis-aligned rectangles, each side a random ``size`` fraction."""

    def __init__(
        self, count: Sequence[int] | int = (1, 3), size: Sequence[float] | float = (0.1, 0.5)
    ) -> None:
        self.count = tuple(int(c) for c in _pair(count))
        self.size = _pair(size)

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        mask = np.zeros((height, width), np.float32)
        for _ in range(rng.integers(self.count[0], self.count[1] + 1)):
            h = max(1, round(rng.uniform(*self.size) * height))
            w = max(1, round(rng.uniform(*self.size) * width))
            top = rng.integers(0, height - h + 1)
            left = rng.integers(0, width - w + 1)
            mask[top : top + h, left : left + w] = 1.0
        return mask


# Free-form stroke presets (sizes at 256²). Without the max_ratio bound, the hole ratio's
# 10th-90th percentiles are about thin 7-17 %, medium 13-29 %, thick 18-44 %.
IRREGULAR_PRESETS: dict[str, dict] = {
    "thin": {"strokes": (4, 10), "vertices": (4, 10), "length": (10, 40), "width": (4, 10)},
    "medium": {"strokes": (3, 6), "vertices": (4, 10), "length": (15, 50), "width": (12, 24)},
    "thick": {"strokes": (2, 5), "vertices": (4, 8), "length": (20, 60), "width": (28, 44)},
}


class IrregularMask:
    """Free-form strokes: random walks of thick lines with random turn, length and width.

    Each stroke starts at a random point and turns by at most ``max_angle`` (radians) per
    segment; joints are rounded. A stroke that would push the hole ratio above
    ``max_ratio`` is dropped, so the bound holds, and the mask is never empty (when every
    stroke was too big, one is redrawn thinner until it fits).
    """

    def __init__(
        self,
        preset: str | None = "medium",
        strokes: Sequence[int] | None = None,
        vertices: Sequence[int] | None = None,
        length: Sequence[float] | None = None,
        width: Sequence[float] | None = None,
        max_angle: float = math.pi / 2,
        max_ratio: float = 0.5,
    ) -> None:
        if preset and preset not in IRREGULAR_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {list(IRREGULAR_PRESETS)}")
        base = dict(IRREGULAR_PRESETS[preset]) if preset else {}
        given = {"strokes": strokes, "vertices": vertices, "length": length, "width": width}
        base.update({k: v for k, v in given.items() if v is not None})
        missing = [k for k in given if k not in base]
        if missing:
            raise ValueError(f"IrregularMask needs a preset or explicit {missing}")
        self.strokes = tuple(int(v) for v in _pair(base["strokes"]))
        self.vertices = tuple(int(v) for v in _pair(base["vertices"]))
        self.length = _pair(base["length"])
        self.width = _pair(base["width"])
        self.max_angle = float(max_angle)
        if not 0 < max_ratio <= 1:
            raise ValueError(f"max_ratio must be in (0, 1], got {max_ratio}")
        self.max_ratio = float(max_ratio)

    def _stroke(self, canvas: np.ndarray, rng: np.random.Generator, scale: float, thin: float):
        """Draw one random-walk stroke into ``canvas`` (uint8, in place)."""
        height, width = canvas.shape
        thickness = max(1, round(rng.uniform(*self.width) * scale * thin))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle = rng.uniform(0, 2 * math.pi)
        cv2.circle(canvas, (round(x), round(y)), thickness // 2, 1, -1)
        for _ in range(rng.integers(self.vertices[0], self.vertices[1] + 1)):
            angle += rng.uniform(-self.max_angle, self.max_angle)
            step = rng.uniform(*self.length) * scale
            nx = float(np.clip(x + step * math.cos(angle), 0, width - 1))
            ny = float(np.clip(y + step * math.sin(angle), 0, height - 1))
            cv2.line(canvas, (round(x), round(y)), (round(nx), round(ny)), 1, thickness)
            cv2.circle(canvas, (round(nx), round(ny)), thickness // 2, 1, -1)
            x, y = nx, ny

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        scale = min(height, width) / _REFERENCE_SIDE
        limit = self.max_ratio * height * width
        mask = np.zeros((height, width), np.uint8)
        for _ in range(rng.integers(self.strokes[0], self.strokes[1] + 1)):
            candidate = mask.copy()
            self._stroke(candidate, rng, scale, 1.0)
            if candidate.sum() <= limit:
                mask = candidate
        thin = 0.5
        while not mask.any() and thin > 1e-3:  # every stroke was too big: redraw thinner
            candidate = np.zeros_like(mask)
            self._stroke(candidate, rng, scale, thin)
            if candidate.sum() <= limit:
                mask = candidate
            thin /= 2
        if not mask.any():  # a bound below even a 1-px stroke: one missing pixel
            mask[rng.integers(height), rng.integers(width)] = 1
        return mask.astype(np.float32)


class FolderMask:
    """Mask files from a directory tree (e.g. the NVIDIA irregular mask set), paired at random.

    Files are resized with nearest neighbour to the image size and binarised (white = hole;
    ``invert=True`` for sets drawn the other way). An unreadable file raises
    :class:`~inpaintgan.data.images.ImageLoadError`; the dataset reports it and draws again.
    With ``require_hole`` (evaluation) a file without any hole is a :class:`DataError`
    naming it.
    """

    def __init__(self, root: str | os.PathLike, invert: bool = False) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DataError(
                f"mask.root {self.root} is not a directory (expected a folder of mask images, "
                "white = missing)"
            )
        self.files = sorted(
            p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not self.files:
            raise DataError(
                f"mask.root {self.root} holds no mask images "
                f"({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)})"
            )
        self.invert = bool(invert)
        # Evaluation sets this: a file without a hole would be scored as a perfect fill.
        self.require_hole = False

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        path = self.files[rng.integers(len(self.files))]
        mask = load_mask(path, (height, width), invert=self.invert)
        if self.require_hole and not mask.any():
            raise DataError(
                f"mask file {path} has no hole (no white pixel at {width}x{height}): it would "
                "score an untouched image (PSNR 100 dB); remove it from mask.root, or set "
                "mask.invert=true if the holes are black"
            )
        return mask


class MixedMask:
    """Picks one of ``masks`` per sample with probability proportional to ``weights``."""

    def __init__(
        self,
        masks: Sequence | Mapping,
        weights: Sequence[float] | Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(masks, Mapping):  # named form from a config: {center: {...}, ...}
            names = list(masks)
            self.masks = [masks[n] for n in names]
            if isinstance(weights, Mapping):
                weights = [weights[n] for n in names]
        else:
            self.masks = list(masks)
        if not self.masks:
            raise ValueError("MixedMask needs at least one mask generator")
        w = np.ones(len(self.masks)) if weights is None else np.asarray(list(weights), float)
        if w.shape != (len(self.masks),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"MixedMask weights {list(w)} do not fit {len(self.masks)} masks")
        self.weights = w / w.sum()

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        choice = rng.choice(len(self.masks), p=self.weights)
        return self.masks[choice](height, width, rng)

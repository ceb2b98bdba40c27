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


# LaMa's evaluation presets (its random_{thin,medium,thick}_256 mask configs), sizes at 256²:
# ``strokes`` random polylines of up to 5 segments, each ``10 + U(0, max_len)`` long and
# ``5 + U{0, max_width}`` wide, turning by ``0.01 + U(0, max_angle)`` radians; with
# probability ``box_weight / (1 + box_weight)`` the mask is ``boxes`` rectangles of side
# ``box_size`` (``margin`` from the border) instead.
LAMA_PRESETS: dict[str, dict] = {
    "thin": {"strokes": (4, 50), "max_width": 10, "max_len": 40, "box_weight": 0.0},
    "medium": {
        "strokes": (4, 5),
        "max_width": 50,
        "max_len": 100,
        "box_weight": 0.3,
        "boxes": (1, 5),
        "box_size": (10, 50),
        "margin": 0,
    },
    "thick": {
        "strokes": (1, 5),
        "max_width": 100,
        "max_len": 200,
        "box_weight": 0.3,
        "boxes": (1, 3),
        "box_size": (30, 150),
        "margin": 10,
    },
}


class LamaMask:
    """LaMa's thin / medium / thick evaluation masks (``preset``), drawn from ``rng``.

    Either free-form lines (LaMa's ``RandomIrregularMaskGenerator``: each of ``strokes``
    polylines starts at a random pixel and takes 1-5 straight segments) or, with weight
    ``box_weight`` against 1 for the lines, a few axis-aligned boxes (its
    ``RandomRectangleMaskGenerator``). Sizes are LaMa's at 256² and scale with the shorter
    side. An empty draw (a line clipped to nothing) is redrawn, so the mask always has a hole.
    """

    def __init__(self, preset: str = "medium", max_angle: float = 4.0) -> None:
        if preset not in LAMA_PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {list(LAMA_PRESETS)}")
        self.preset = preset
        params = LAMA_PRESETS[preset]
        self.strokes = tuple(int(v) for v in params["strokes"])
        self.max_width = int(params["max_width"])
        self.max_len = float(params["max_len"])
        self.box_weight = float(params["box_weight"])
        self.boxes = tuple(int(v) for v in params.get("boxes", (1, 1)))
        self.box_size = tuple(int(v) for v in params.get("box_size", (1, 1)))
        self.margin = int(params.get("margin", 0))
        self.max_angle = float(max_angle)

    def _lines(self, mask: np.ndarray, rng: np.random.Generator, scale: float) -> None:
        height, width = mask.shape
        for i in range(rng.integers(self.strokes[0], self.strokes[1] + 1)):
            x, y = int(rng.integers(width)), int(rng.integers(height))
            for _ in range(1 + int(rng.integers(5))):
                angle = 0.01 + rng.uniform(0, self.max_angle)
                if i % 2 == 0:
                    angle = 2 * math.pi - angle
                length = (10 + rng.uniform(0, self.max_len)) * scale
                brush = max(1, round((5 + int(rng.integers(self.max_width))) * scale))
                nx = int(np.clip(x + length * math.sin(angle), 0, width))
                ny = int(np.clip(y + length * math.cos(angle), 0, height))
                cv2.line(mask, (x, y), (nx, ny), 1, brush)
                x, y = nx, ny

    def _boxes(self, mask: np.ndarray, rng: np.random.Generator, scale: float) -> None:
        height, width = mask.shape
        margin = round(self.margin * scale)
        lo, hi = (max(1, round(s * scale)) for s in self.box_size)
        for _ in range(rng.integers(self.boxes[0], self.boxes[1] + 1)):
            box_w = int(rng.integers(lo, max(lo, min(hi, width - 2 * margin)) + 1))
            box_h = int(rng.integers(lo, max(lo, min(hi, height - 2 * margin)) + 1))
            left = int(rng.integers(margin, max(margin, width - margin - box_w) + 1))
            top = int(rng.integers(margin, max(margin, height - margin - box_h) + 1))
            mask[top : top + box_h, left : left + box_w] = 1

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        scale = min(height, width) / _REFERENCE_SIDE
        p_boxes = self.box_weight / (1.0 + self.box_weight)
        while True:
            mask = np.zeros((height, width), np.uint8)
            if rng.uniform() < p_boxes:
                self._boxes(mask, rng, scale)
            else:
                self._lines(mask, rng, scale)
            if mask.any():
                return mask.astype(np.float32)


class HoleRatioMask:
    """Strokes and boxes in the style of MAT / MI-GAN, rejection-sampled until the hole ratio
    lies in ``ratio`` = ``(lo, hi]``.

    One draw: a few random boxes (up to half the side, then up to the whole side, partly
    off the image) and a few brush strokes (random polylines of 4-18 vertices, 6-24 px wide
    at 256², round joints, randomly mirrored); the number of each grows with ``lo + hi`` as
    in MAT's ``RandomMask``. A draw outside ``(lo, hi]`` is thrown away and drawn again
    (at most ``max_tries`` times; no valid draw is a ``RuntimeError``), so the measured hole
    ratio of every mask is inside the range.
    """

    def __init__(self, ratio: Sequence[float] = (0.0, 0.6), max_tries: int = 10_000) -> None:
        lo, hi = _pair(ratio)
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"ratio must be (lo, hi] with 0 <= lo < hi <= 1, got {[lo, hi]}")
        self.ratio = (lo, hi)
        self.max_tries = int(max_tries)

    def _brush(self, mask: np.ndarray, rng: np.random.Generator, tries: int) -> None:
        height, width = mask.shape
        scale = min(height, width) / _REFERENCE_SIDE
        radius = math.hypot(height, width) / 8
        mean_angle, spread = 2 * math.pi / 5, 2 * math.pi / 15
        for _ in range(rng.integers(tries + 1)):
            vertices = int(rng.integers(4, 18))
            low = mean_angle - rng.uniform(0, spread)
            high = mean_angle + rng.uniform(0, spread)
            brush = max(1, round(rng.uniform(6, 24) * scale))
            points = [(int(rng.integers(width)), int(rng.integers(height)))]
            for i in range(vertices):
                angle = rng.uniform(low, high)
                angle = 2 * math.pi - angle if i % 2 == 0 else angle
                r = float(np.clip(rng.normal(radius, radius / 2), 0, 2 * radius))
                x = int(np.clip(points[-1][0] + r * math.cos(angle), 0, width - 1))
                y = int(np.clip(points[-1][1] + r * math.sin(angle), 0, height - 1))
                points.append((x, y))
            stroke = np.zeros_like(mask)
            cv2.polylines(stroke, [np.array(points, np.int32)], False, 1, brush)
            for x, y in points:
                cv2.circle(stroke, (x, y), brush // 2, 1, -1)
            if rng.uniform() > 0.5:
                stroke = stroke[:, ::-1]
            if rng.uniform() > 0.5:
                stroke = stroke[::-1, :]
            mask |= stroke

    @staticmethod
    def _fill(mask: np.ndarray, rng: np.random.Generator, tries: int, max_size: int) -> None:
        height, width = mask.shape
        for _ in range(rng.integers(tries + 1)):
            w, h = int(rng.integers(1, max_size + 1)), int(rng.integers(1, max_size + 1))
            x = int(rng.integers(-(w // 2), width - w + w // 2 + 1))
            y = int(rng.integers(-(h // 2), height - h + h // 2 + 1))
            mask[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)] = 1

    def draw(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """One unconstrained draw (uint8 {0, 1}); :meth:`__call__` rejection-samples these."""
        coef = min(sum(self.ratio), 1.0)
        side = min(height, width)
        mask = np.zeros((height, width), np.uint8)
        self._fill(mask, rng, max(1, int(10 * coef)), side // 2)
        self._fill(mask, rng, int(5 * coef), side)
        self._brush(mask, rng, max(1, int(20 * coef)))
        return mask

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.ratio
        for _ in range(self.max_tries):
            mask = self.draw(height, width, rng)
            if lo < mask.mean() <= hi:
                return mask.astype(np.float32)
        raise RuntimeError(
            f"no mask with a hole ratio in ({lo}, {hi}] in {self.max_tries} draws at "
            f"{width}x{height}"
        )

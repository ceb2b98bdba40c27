"""Hole-ratio buckets: fixed evaluation masks per range of hole ratio, written to disk once.

The field reports inpainting quality per hole size (MAT, MI-GAN: (0, 10 %], (10, 20 %] ...
(50, 60 %]). :class:`BucketMasks` draws, for each bucket and image index ``i``, one
:class:`~inpaintgan.data.masks.HoleRatioMask` mask from ``np.random.default_rng([seed,
lo‰, hi‰, i])`` and writes it as ``root/<W>x<H>-seed<seed>/<lo>-<hi>/<i>.png`` (white = 1 =
missing) the first time it is needed. Later runs, of any model, read the same files, so
every model is scored on the same holes; a file whose hole ratio lies outside its bucket
(edited, or from another generator) is refused in one line naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from inpaintgan.data.images import load_mask
from inpaintgan.data.masks import HoleRatioMask
from inpaintgan.errors import DataError
from inpaintgan.io import atomic_path

BUCKETS: tuple[tuple[float, float], ...] = tuple(
    (round(i / 10, 1), round((i + 1) / 10, 1)) for i in range(6)
)
"""(lo, hi] hole-ratio ranges: (0, 10 %], (10, 20 %] ... (50, 60 %]."""

GENERATOR = "HoleRatioMask/1"
"""Recorded in each mask folder's manifest: masks of another generator are not mixed in."""


def bucket_name(lo: float, hi: float) -> str:
    """``(0.1, 0.2)`` → ``"10-20"`` (percent), the bucket's key in files and metrics.json."""
    return f"{round(lo * 100)}-{round(hi * 100)}"


def bucket_title(name: str) -> str:
    """``"10-20"`` → ``"(10, 20] %"``, the column heading of a table."""
    lo, hi = name.split("-")
    return f"({lo}, {hi}] %"


class BucketMasks:
    """The hole-ratio bucket masks of an evaluation, on disk under ``root``.

    ``buckets`` are ``[lo, hi]`` pairs (ratio in ``(lo, hi]``). :meth:`mask` returns mask
    ``index`` of a bucket at a size, drawing and writing it the first time; it is also a
    plain mask generator (``generator(height, width, rng)``: a bucket chosen by ``rng``), so
    the config can be built where any mask is expected.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        buckets: Sequence[Sequence[float]] = BUCKETS,
        max_tries: int = 10_000,
    ) -> None:
        self.root = Path(root).expanduser()
        pairs = [(float(lo), float(hi)) for lo, hi in buckets]
        if not pairs:
            raise ValueError("BucketMasks needs at least one [lo, hi] bucket")
        self.generators = {
            bucket_name(lo, hi): HoleRatioMask((lo, hi), max_tries=max_tries) for lo, hi in pairs
        }
        self.ranges = dict(zip(self.generators, pairs, strict=True))

    @property
    def names(self) -> list[str]:
        return list(self.generators)

    def folder(self, height: int, width: int, seed: int) -> Path:
        return self.root / f"{width}x{height}-seed{int(seed)}"

    def _check_manifest(self, folder: Path) -> None:
        manifest = folder / "manifest.json"
        expected = {"generator": GENERATOR, "white": "missing"}
        if manifest.is_file():
            try:
                found = json.loads(manifest.read_text())
            except (OSError, ValueError) as err:
                raise DataError(
                    f"{manifest}: not a readable bucket-mask manifest ({err})"
                ) from None
            if found.get("generator") != GENERATOR:
                raise DataError(
                    f"{folder} holds masks of {found.get('generator')!r}, not {GENERATOR}: "
                    "give another mask.root or remove that folder"
                )
            return
        with atomic_path(manifest) as tmp:
            tmp.write_text(json.dumps(expected, indent=2) + "\n")

    def path(self, name: str, index: int, height: int, width: int, seed: int) -> Path:
        return self.folder(height, width, seed) / name / f"{int(index):05d}.png"

    def mask(self, name: str, index: int, height: int, width: int, seed: int) -> np.ndarray:
        """Mask ``index`` of bucket ``name`` (float32 ``[H, W]``, 1 = missing), read from
        its file, or drawn and written once when the file is not there yet."""
        path = self.path(name, index, height, width, seed)
        lo, hi = self.ranges[name]
        if path.is_file():
            mask = load_mask(path, (height, width))
        else:
            self._check_manifest(path.parent.parent)
            rng = np.random.default_rng([int(seed), round(lo * 1000), round(hi * 1000), index])
            mask = self.generators[name](height, width, rng)
            with atomic_path(path) as tmp:
                Image.fromarray((mask * 255).astype(np.uint8)).save(tmp, format="PNG")
        ratio = float(mask.mean())
        if not lo < ratio <= hi:
            raise DataError(
                f"bucket mask {path} has a hole ratio of {ratio:.3f}, outside its bucket "
                f"({lo}, {hi}]: remove the folder {path.parent.parent} to draw them again"
            )
        return mask

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        name = self.names[int(rng.integers(len(self.names)))]
        return self.generators[name](height, width, rng)

"""Data-loading throughput: samples/s of decode + resize + crop + flip + mask.

``benchmark_loader`` measures the training loader on the embedded sample photos; the bench
command runs it as its ``data`` part, e.g.
``python -m inpaintgan.bench parts=[data] loader.workers=[0,2] loader.batches=100``
(the ``loader`` section of ``conf/bench.yaml``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from inpaintgan.data.datamodule import InpaintingDataModule
from inpaintgan.data.datasets import ImageSource, MaskGenerator, SampleSource
from inpaintgan.data.masks import CenterMask, IrregularMask, MixedMask, RectMask


@dataclass
class LoaderBenchmark:
    """One measurement; ``samples_per_s`` leaves out the warm-up batches (worker start-up)."""

    num_workers: int
    batch_size: int
    size: int
    samples: int
    seconds: float
    samples_per_s: float
    startup_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def default_mask() -> MaskGenerator:
    """The training mix of conf/mask/mixed.yaml."""
    return MixedMask([CenterMask(), IrregularMask("medium"), RectMask()], [0.5, 0.25, 0.25])


def benchmark_loader(
    source: ImageSource | None = None,
    mask: MaskGenerator | None = None,
    num_workers: int = 0,
    batch_size: int = 8,
    size: int = 128,
    num_batches: int = 40,
    warmup_batches: int = 2,
    split: str = "train",
    seed: int = 0,
) -> LoaderBenchmark:
    """Time ``num_batches`` batches of ``split`` (looping over epochs as needed).

    Defaults: the sample photos at 128² with the mixed training masks.
    """
    module = InpaintingDataModule(
        source or SampleSource(),
        mask or default_mask(),
        size=size,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        persistent_workers=num_workers > 0,
    )
    loader = module.loader(split)
    start = time.perf_counter()
    timed_from, samples, seen = None, 0, 0
    while seen < warmup_batches + num_batches:
        for batch in loader:
            seen += 1
            if seen == warmup_batches:
                timed_from = time.perf_counter()
            elif seen > warmup_batches:
                samples += len(batch["name"])
            if seen >= warmup_batches + num_batches:
                break
    end = time.perf_counter()
    timed_from = timed_from or start
    seconds = end - timed_from
    return LoaderBenchmark(
        num_workers=num_workers,
        batch_size=batch_size,
        size=size,
        samples=samples,
        seconds=round(seconds, 4),
        samples_per_s=round(samples / seconds, 1) if seconds > 0 else float("inf"),
        startup_s=round(timed_from - start, 4),
    )

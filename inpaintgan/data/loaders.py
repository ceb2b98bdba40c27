"""The loader every split goes through, and the fixed subsets of a split.

:class:`ReportingDataLoader` sets the data set's epoch before each pass and pops the report
that :func:`inpaintgan.data.datamodule.collate` puts under :data:`REPORT_KEY` off every batch:
one warning per unreadable file, a count when a pass ends (:class:`PassReport`).
:func:`evenly_spread` picks a subset that depends on nothing but two counts. The training
loaders (:mod:`~inpaintgan.data.sampling`, :mod:`~inpaintgan.data.streaming`) extend it;
the data module builds them (kept apart so that neither imports the data module).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from torch.utils.data import DataLoader

from inpaintgan.data.datasets import InpaintingDataset

log = logging.getLogger(__name__)

REPORT_KEY = "_report"


@dataclass
class PassReport:
    """What one pass over a loader met: unreadable files (one-line reasons, each once) and
    the number of images upscaled to the crop."""

    skipped: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    upscaled: int = 0


class ReportingDataLoader(DataLoader):
    """A DataLoader that sets the dataset's epoch and reports skipped/upscaled files.

    ``epoch_fn`` returns the epoch to use (e.g. the trainer's) or None to count passes.
    After each pass ``last_report`` holds its :class:`PassReport`.
    """

    def __init__(
        self,
        dataset: InpaintingDataset,
        *args,
        label: str = "data",
        epoch_fn: Callable[[], int | None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.label, self.epoch_fn = label, epoch_fn
        self.passes = 0
        self.last_report: PassReport | None = None
        self._warned: set[str] = set()

    def __iter__(self) -> Iterator[dict]:
        epoch = self.epoch_fn() if self.epoch_fn is not None else None
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.passes if epoch is None else epoch)
        self.passes += 1
        report = PassReport()
        try:
            for batch in super().__iter__():
                info = batch.pop(REPORT_KEY, None) if isinstance(batch, dict) else None
                if info:
                    self._note(report, info)
                yield batch
        finally:
            self.last_report = report
            if report.skipped:
                log.warning(
                    "%s: %d unreadable file(s) skipped in this pass (each named when first met)",
                    self.label,
                    len(report.skipped),
                )
            if report.upscaled:
                log.info(
                    "%s: %d image(s) smaller than the %d px crop were upscaled in this pass",
                    self.label,
                    report.upscaled,
                    getattr(self.dataset, "size", 0),
                )

    def _note(self, report: PassReport, info: dict) -> None:
        for reason in info["skipped"]:
            if reason not in report.skipped:  # a broken file can be met twice (as replacement)
                report.skipped.append(reason)
            if reason not in self._warned:
                self._warned.add(reason)
                log.warning("%s: skipped %s", self.label, reason)
        report.broken.extend(b for b in info.get("broken", ()) if b not in report.broken)
        report.upscaled += info["upscaled"]


def evenly_spread(n: int, k: int) -> list[int] | None:
    """``k`` positions spread evenly over ``range(n)`` (``i * n // k``), or None (all) when
    ``k >= n``: a fixed subset that depends on nothing but the two counts."""
    if k >= n:
        return None
    return [i * n // k for i in range(k)]

"""What a command prints: known third-party noise filtered at this one place.

:func:`install` runs at the start of every command (``inpaintgan.errors.run_command``). It
drops messages that say nothing to a user of this package, or say it in the wrong terms:

- Lightning's "Tip" about litlogger / litmodels and its note that our own model summary
  replaces the default one;
- ``Trainer.fit stopped: max_steps=N reached``: Lightning counts optimiser steps, two per
  batch in this GAN; the progress callback says how many *batches* ran instead
  (:mod:`inpaintgan.callbacks`);
- ``ModelCheckpoint(monitor='val/psnr') could not find the monitored key``: a run that ends
  before its first validation has no score to keep a best checkpoint by (last.ckpt is
  written regardless); after a validation Lightning raises instead, which is not filtered;
- torch's ``isinstance(treespec, LeafSpec)`` deprecation, raised inside Lightning;
- Lightning's note that some modules are in eval mode (the style loss's frozen VGG16);
- ``TPU available: False`` and the like (the GPU line stays).

On a machine without CUDA, torch's profiler (bench: memory peaks, ``profile=true``) prints
``gpuGetDeviceCount failed with code 35`` and ``USDT: ... profiler_start`` lines from C++
(kineto) straight to stderr: no Python filter sees them, so :func:`install` sets
``KINETO_LOG_LEVEL=6`` (kineto's own switch, read when the profiler first starts) unless
it is set already; with a GPU kineto's messages are left alone.

It also copies Lightning's own log lines (which do not reach the root logger) into the
run's log file (``train.log``), so that file tells the whole story of a run.

The wandb "anonymous setting" warning is not a log record: it is avoided where the
WandbLogger is built (:func:`inpaintgan.loggers.wandb_logger`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings

__all__ = ["NOISE_LOG_PATTERNS", "NOISE_WARNING_PATTERNS", "NoiseFilter", "install"]

NOISE_WARNING_PATTERNS: tuple[str, ...] = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    r".*`?ModelCheckpoint\(monitor=.*could not find the monitored key",
    r".*module\(s\) in eval mode",  # the style loss's frozen VGG16 stays in eval mode
    # bf16-mixed keeps fp32 weights, so the summary's 32-bit size estimate is right
    r"Precision .* is not supported by the model summary",
)
"""``warnings`` messages (regular expressions matched at the start) that are dropped."""

NOISE_LOG_PATTERNS: tuple[str, ...] = (
    r".*Tip: For seamless cloud logging",
    r".*Tip: .*litmodels",
    r"`Trainer\.fit` stopped: `max_(steps|epochs)=",
    r"Trainer already configured with model summary callbacks",
    r"(TPU|HPU|IPU) available: False",
    r".*LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES",
)
"""Log-record messages (Lightning, wandb; regular expressions) that are dropped."""

# Loggers whose records carry the noise: filters on a logger see the records made there.
NOISY_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning_utilities.core.rank_zero",
    "pytorch_lightning",
    "lightning_fabric",
    "wandb",
)
# Lightning's package loggers keep their own console handler and do not propagate (when
# imported before logging is configured): their records are copied to the run's log file.
OWN_HANDLER_LOGGERS = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch")


class NoiseFilter(logging.Filter):
    """Drops a record whose message matches one of ``patterns``."""

    def __init__(self, patterns: tuple[str, ...] = NOISE_LOG_PATTERNS) -> None:
        super().__init__("inpaintgan.console")
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is not ours to judge
            return True
        return not any(p.match(message) for p in self.patterns)


_FILTER = NoiseFilter()


def _add_filter(target: logging.Logger | logging.Handler) -> None:
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)


def _copy_file_handlers() -> None:
    """Lightning's non-propagating loggers also write to the root's log files (train.log);
    copies left from an earlier job of a multirun are removed first."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for name in OWN_HANDLER_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if getattr(handler, "_inpaintgan_copy", False) and handler not in files:
                logger.removeHandler(handler)
        if logger.propagate:
            continue
        for handler in files:
            if handler not in logger.handlers:
                handler._inpaintgan_copy = True  # type: ignore[attr-defined]
                logger.addHandler(handler)


def install() -> None:
    """Install the filters (idempotent; called again for each job of a multirun, whose
    logging Hydra configures anew)."""
    for pattern in NOISE_WARNING_PATTERNS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in NOISY_LOGGERS:
        _add_filter(logging.getLogger(name))
    for name in ("", *OWN_HANDLER_LOGGERS):
        for handler in logging.getLogger(name).handlers:
            _add_filter(handler)
    _copy_file_handlers()
    torch = sys.modules.get("torch")
    if torch is not None and not torch.cuda.is_available():
        os.environ.setdefault("KINETO_LOG_LEVEL", "6")

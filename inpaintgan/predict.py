"""`python -m inpaintgan.predict ckpt=PATH input=DIR out=DIR`: inpaint your own images.

Pairs ``name.(png|jpg|jpeg|webp|bmp)`` with ``name_mask.png`` (white = fill; LaMa's
convention; :mod:`inpaintgan.pairing`). A single image works too: ``input=photo.jpg
mask_file=hole.png`` (without ``mask_file``, ``photo_mask.png`` beside it). ``mask=center``
(or any mask config) fills images that have no mask file; ``model=telea|ns|mean_fill`` runs a
classical baseline instead of a checkpoint; ``ckpt=`` takes a training checkpoint, an
exported weights file or an ONNX / TorchScript export (read by content). Any image size
(padded and cropped back; longer sides above ``max_side`` inpainted downscaled, only the fill
upscaled back): the model runs behind :func:`inpaintgan.inpainter.inpaint_any_size`.
Output: the composite at the input size, ``out/name.png`` (``output=`` is the old name).

A bad file (unreadable, mask of another size, empty mask) or one that cannot be processed
(out of memory, a failed write) is reported in one line naming it; the others are still
processed and the exit code is 1. User mistakes exit 2 before anything is written.
"""

from __future__ import annotations

import errno
import logging
import os
import sys

import hydra
import torch
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR, build, whole_number
from inpaintgan.errors import ImageLoadError, InputError, UsageError, run_command
from inpaintgan.inpainter import inpaint_any_size, load_inpainter, save_png
from inpaintgan.pairing import check_prediction_outputs, collect_jobs, read_pair

log = logging.getLogger("inpaintgan.predict")


def out_of(cfg: DictConfig) -> str | None:
    """``out``, or the old name ``output`` (a one-line deprecation warning; both given and
    different is a UsageError)."""
    out, old = cfg.get("out"), cfg.get("output")
    if old:
        log.warning("output is deprecated: use out=%s", old)
        if out and str(out) != str(old):
            raise UsageError(f"out={out} and output={old} differ: give out= only")
        return str(old)
    return str(out) if out else None


def failure_reason(err: BaseException) -> str:
    """A one-line cause of a failed image: out of memory, an OS error, or the first line."""
    if isinstance(err, MemoryError | torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    ):
        return "out of memory (try a smaller max_side, or device=cpu)"
    if isinstance(err, OSError) and err.errno is not None:
        return f"{os.strerror(err.errno)} (errno {errno.errorcode.get(err.errno, err.errno)})"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def predict(cfg: DictConfig) -> tuple[int, int]:
    """Inpaint every image of the config; returns (succeeded, failed)."""
    out = out_of(cfg)
    if not cfg.get("input") or not out:
        raise UsageError("give input=IMAGE_OR_FOLDER and out=FOLDER (or out=FILE.png)")
    max_pixels = whole_number(cfg.get("max_pixels"), "max_pixels", none=True)
    whole_number(cfg.get("max_side"), "max_side", none=True)
    whole_number(cfg.get("seed", 0), "seed", minimum=0)
    jobs = collect_jobs(cfg.input, out, cfg.get("mask_file"))
    check_prediction_outputs(jobs, cfg.input, out, bool(cfg.get("overwrite", False)))
    inpainter = load_inpainter(
        cfg.get("ckpt"), cfg.get("model"), cfg.get("device", "auto"), max_pixels=max_pixels
    )
    mask_generator = build(cfg.mask, "mask") if cfg.get("mask") is not None else None
    done, failed = 0, 0
    for index, job in enumerate(jobs):
        try:
            image, mask = read_pair(job, mask_generator, cfg.get("seed", 0) + index, max_pixels)
        except (ImageLoadError, InputError) as err:
            print(f"inpaintgan.predict: skipped: {err}", file=sys.stderr)
            failed += 1
            continue
        try:
            result = inpaint_any_size(inpainter, image, mask, cfg.get("max_side"))
            save_png(result, job.output)
        except (RuntimeError, MemoryError, OSError, ValueError) as err:
            reason = failure_reason(err)
            print(f"inpaintgan.predict: failed: {job.image}: {reason}", file=sys.stderr)
            failed += 1
            if inpainter.device.type == "cuda":
                torch.cuda.empty_cache()
            continue
        done += 1
        print(f"{job.image} -> {job.output}")
    return done, failed


@hydra.main(config_path=CONFIG_DIR, config_name="predict", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; exit 1 when some images failed, 2 on a usage error."""
    # an output folder that cannot be created (read-only, permission): one line, exit 2
    writes_to = cfg.get("out") or cfg.get("output") or "."
    done, failed = run_command("predict", predict, cfg, writes_to=writes_to)
    print(f"inpainted {done} image(s)" + (f", {failed} failed" if failed else ""))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""`python -m inpaintgan.predict ckpt=PATH input=DIR output=DIR`: inpaint your own images.

Pairs ``name.(png|jpg|jpeg|webp|bmp)`` with ``name_mask.png`` (white = fill; LaMa's
convention). A single image works too: ``input=photo.jpg mask_file=hole.png`` (without
``mask_file``, ``photo_mask.png`` beside it is used). ``mask=center`` (or any mask config)
fills images that have no mask file. ``model=telea|ns|mean_fill`` runs a classical baseline
instead of a checkpoint. ``ckpt=`` takes a training checkpoint, an exported weights file or
an ONNX / TorchScript export of ``python -m inpaintgan.export`` (read by content).

Any image size: the image is padded (reflect) to the size multiple the network needs and
cropped back. Images whose longer side exceeds ``max_side`` are inpainted downscaled to it,
and only the fill is upscaled back, so memory stays bounded while known pixels keep their
full resolution. Output: the composited image at the input size, as ``output/name.png``.

A bad file (unreadable image or mask, mask size not the image's, empty mask) or one that
cannot be processed (out of memory, a failed write) is reported in one line naming it; the
other images are still processed and the exit code is 1. User mistakes (no such input, not
a checkpoint, an output that is or holds an input, an existing output file without
``overwrite=true``) exit with code 2 before anything is written.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from inpaintgan.config import CONFIG_DIR, build, whole_number
from inpaintgan.data.images import IMAGE_EXTENSIONS, load_mask, load_rgb
from inpaintgan.errors import ImageLoadError, InputError, UsageError, run_command
from inpaintgan.inpainter import inpaint_any_size, load_inpainter, save_png
from inpaintgan.io import check_outputs as check_writes
from inpaintgan.io import same_path

MASK_SUFFIX = "_mask"


@dataclass
class Job:
    """One image to inpaint: its mask file (None: use the mask config) and output path."""

    image: Path
    mask: Path | None
    output: Path


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _mask_beside(image: Path) -> Path | None:
    """``name_mask.png`` next to ``name.*`` (other image extensions are accepted too)."""
    for ext in (".png", *IMAGE_EXTENSIONS):
        candidate = image.with_name(f"{image.stem}{MASK_SUFFIX}{ext}")
        if candidate.is_file():
            return candidate
    return None


def _output_names(images: list[Path]) -> list[str]:
    """``name.png`` per image; stems shared by two files keep their extension (a_jpg.png).
    Two images may still map to one name (``a.jpg`` + ``a_jpg.png``, ``b.jpg`` + ``b.JPG``):
    :func:`check_outputs` refuses those, naming both."""
    stems = [p.stem for p in images]
    return [
        f"{p.stem}_{p.suffix[1:].lower()}.png" if stems.count(p.stem) > 1 else f"{p.stem}.png"
        for p in images
    ]


def collect_jobs(input: str | Path, output: str | Path, mask_file: str | Path | None) -> list[Job]:
    """The images of ``input`` (a folder, or one file) with their masks and output paths.

    In a folder, ``name_mask.png`` is the mask of ``name.*``; it is not an input itself
    (a ``*_mask.*`` file without such an image is treated as an image).
    """
    source, output = Path(input), Path(output)
    if source.is_file():
        mask = Path(mask_file) if mask_file else _mask_beside(source)
        if mask is not None and not mask.is_file():
            raise UsageError(f"mask_file {mask}: no such file")
        is_file_target = output.suffix.lower() in IMAGE_EXTENSIONS
        target = output if is_file_target else output / f"{source.stem}.png"
        return [Job(source, mask, target)]
    if not source.is_dir():
        raise UsageError(f"input {source}: no such file or folder")
    if mask_file:
        raise UsageError("mask_file= goes with a single input image; a folder uses name_mask.png")
    files = sorted(p for p in source.iterdir() if _is_image(p))
    stems = {p.stem for p in files}
    images = [
        p
        for p in files
        if not (p.stem.endswith(MASK_SUFFIX) and p.stem[: -len(MASK_SUFFIX)] in stems)
    ]
    if not images:
        raise UsageError(f"input {source}: no images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)})")
    names = _output_names(images)
    return [Job(p, _mask_beside(p), output / n) for p, n in zip(images, names, strict=True)]


def check_outputs(jobs: list[Job], input: str | Path, output: str | Path, overwrite: bool) -> None:
    """Refuse (UsageError, one line) outputs that would replace or mix with a user's files.

    An output *folder* may not be, or hold, an input (``output=`` the input folder, or the
    folder of a single input image); the rest is the one rule of every writer
    (:func:`inpaintgan.io.check_outputs`): no output is an input image or mask, two images
    that map to one output name are refused naming both, and an existing output file is
    replaced only with ``overwrite=true``.
    """
    source, target = Path(input), Path(output)
    inputs = [p for job in jobs for p in (job.image, job.mask) if p is not None]
    is_file_target = source.is_file() and target.suffix.lower() in IMAGE_EXTENSIONS
    if not is_file_target:
        for original in inputs:
            if same_path(original.parent, target):
                raise UsageError(
                    f"output folder {target} holds the input {original}: the results could "
                    "replace your files; give another output folder"
                )
    writes = [(str(job.image), job.output) for job in jobs]
    check_writes(writes, inputs, overwrite, key="output")


def _is_out_of_memory(err: BaseException) -> bool:
    """CUDA/CPU allocation failures (torch raises them as RuntimeError subclasses)."""
    if isinstance(err, MemoryError | torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def failure_reason(err: BaseException) -> str:
    """A one-line cause of a failed image: out of memory, an OS error, or the first line."""
    if _is_out_of_memory(err):
        return "out of memory (try a smaller max_side, or device=cpu)"
    if isinstance(err, OSError) and err.errno is not None:
        return f"{os.strerror(err.errno)} (errno {errno.errorcode.get(err.errno, err.errno)})"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _to_tensor(array: np.ndarray) -> Tensor:
    """``[H, W]`` or ``[H, W, 3]`` uint8/float array → ``[1, C, H, W]`` float in [0, 1]."""
    tensor = torch.from_numpy(np.array(array))  # a writable copy
    tensor = tensor.unsqueeze(-1) if tensor.ndim == 2 else tensor
    tensor = tensor.permute(2, 0, 1).unsqueeze(0).float()
    return tensor / 255 if array.dtype == np.uint8 else tensor


def read_pair(
    job: Job, mask_generator, seed: int = 0, max_pixels: int | None = None
) -> tuple[Tensor, Tensor]:
    """Image ``[1,3,H,W]`` and mask ``[1,1,H,W]`` of ``job``, or a one-line InputError.

    Without a mask file, ``mask_generator(height, width, rng)`` draws one from ``seed``.
    Images (and masks) of more than ``max_pixels`` pixels are refused before decoding.
    """
    image = np.asarray(load_rgb(job.image, max_pixels=max_pixels))
    height, width = image.shape[:2]
    if job.mask is not None:
        mask = load_mask(job.mask, max_pixels=max_pixels)
        if mask.shape != (height, width):
            raise InputError(
                f"{job.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{job.image.name} is {width}x{height}"
            )
    elif mask_generator is not None:
        mask = mask_generator(height, width, np.random.default_rng(seed))
    else:
        raise InputError(
            f"{job.image}: no mask file {job.image.stem}{MASK_SUFFIX}.png "
            "(give mask=center or another mask config to fill images without one)"
        )
    if not mask.any():
        raise InputError(f"{job.mask or job.image}: empty mask (no white pixel), nothing to fill")
    return _to_tensor(image), _to_tensor(mask.astype(np.float32))


def predict(cfg: DictConfig) -> tuple[int, int]:
    """Inpaint every job of the config; returns (succeeded, failed)."""
    if not cfg.get("input") or not cfg.get("output"):
        raise UsageError("give input=IMAGE_OR_FOLDER and output=FOLDER (or output=FILE.png)")
    max_pixels = whole_number(cfg.get("max_pixels"), "max_pixels", none=True)
    whole_number(cfg.get("max_side"), "max_side", none=True)
    whole_number(cfg.get("seed", 0), "seed", minimum=0)
    jobs = collect_jobs(cfg.input, cfg.output, cfg.get("mask_file"))
    check_outputs(jobs, cfg.input, cfg.output, bool(cfg.get("overwrite", False)))
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
            print(
                f"inpaintgan.predict: failed: {job.image}: {failure_reason(err)}", file=sys.stderr
            )
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
    done, failed = run_command("predict", predict, cfg, writes_to=cfg.get("output") or ".")
    print(f"inpainted {done} image(s)" + (f", {failed} failed" if failed else ""))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Write a data set's splits as LitData chunks (``python -m inpaintgan.prepare``).

Each split of a source becomes ``<out>/<split>/`` (``chunk-*.bin`` + ``index.json``), written
by ``litdata.optimize`` (the engine LitData streams from; no sharding scheme of our own).
A record is one image file as it is on disk (its encoded bytes: no re-encoding loss) with
its position in the split list, its sample name, its path relative to ``data.root`` and its
size read from the header::

    {"index": int, "name": str, "source": str, "image": bytes, "width": int, "height": int}

``<out>/inpaintgan_shards.json`` records what is being written (the source, the settings,
the splits done), so an interrupted run is resumed by running the same command again
(LitData's checkpoints inside each split), and an ``out`` holding anything else is refused
without ``overwrite=true``. litdata is imported only here and in
:mod:`inpaintgan.data.streaming`, never by ``import inpaintgan``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from inpaintgan.data.datasets import ImageSource, PathList, name_depth, sample_name
from inpaintgan.errors import DataError, UsageError

MARKER = "inpaintgan_shards.json"
FORMAT = "inpaintgan-litdata/1"
SPLITS = ("train", "val")


def import_litdata():
    """The litdata module (no PyPI version check: ranks on a cluster have no internet), or a
    one-line DataError saying how to install it."""
    os.environ.setdefault("LITDATA_DISABLE_VERSION_CHECK", "1")
    try:
        import litdata
    except ImportError:
        raise DataError(
            "data.format=litdata and inpaintgan.prepare need the litdata package: "
            "pip install 'inpaintgan[stream]' (or pip install litdata)"
        ) from None
    return litdata


def image_record(root: str, item: Sequence) -> dict:
    """The record of one file: ``item`` = ``[index, path, name]``. Never raises (an error in
    a LitData worker stalls the whole run): an unreadable file gives empty bytes, a header
    PIL cannot read gives size 0 x 0; streaming skips such records and names them."""
    from PIL import Image

    index, path, name = int(item[0]), str(item[1]), str(item[2])
    try:
        source = os.path.relpath(path, root)
    except ValueError:
        source = path
    try:
        data = Path(path).read_bytes()
    except OSError:
        data = b""
    width = height = 0
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - any header failure: the streaming side names it
        pass
    return {
        "index": index,
        "name": name,
        "source": source,
        "image": data,
        "width": int(width),
        "height": int(height),
    }


def split_items(paths: Sequence[Path]) -> list[list]:
    """``[index, path, name]`` per file, names as :class:`InpaintingDataset` gives them."""
    depth = paths.name_depth() if isinstance(paths, PathList) else name_depth(paths)
    items = []
    for index in range(len(paths)):
        path = paths[index]
        items.append([index, str(path), sample_name(Path(path), depth, index)])
    return items


@dataclass
class PrepareResult:
    """What :func:`write_shards` did: records per split, and the splits skipped as done."""

    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    bytes_written: int = 0


def _settings(source: ImageSource, workers: int, chunk_bytes: str, compression: str | None):
    return {
        "format": FORMAT,
        "source": repr(source),
        "workers": int(workers),
        "chunk_bytes": str(chunk_bytes),
        "compression": compression,
    }


def _write_marker(out: Path, marker: dict) -> None:
    tmp = out / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, out / MARKER)


def _is_inside(inner: Path, outer: Path) -> bool:
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or outer in inner.parents


def _check_out(out: Path, root: str | None, settings: dict, overwrite: bool) -> dict | None:
    """The marker of a resumable run into ``out`` (None: a fresh start); refuses an ``out``
    that holds anything else, unless ``overwrite``, and never an input folder."""
    if root is not None and (_is_inside(Path(root), out) or _is_inside(out, Path(root))):
        raise UsageError(f"out={out} overlaps data.root={root}: write the shards elsewhere")
    if out.exists() and not out.is_dir():
        raise UsageError(f"out={out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return None
    marker = None
    try:
        marker = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        pass
    same = marker is not None and all(marker.get(k) == v for k, v in settings.items())
    if same and not overwrite:
        return marker
    if not overwrite:
        what = (
            "shards of another source or settings"
            if marker is not None
            else "files that are not this command's shards"
        )
        raise UsageError(
            f"out={out} is not empty ({what}); choose an empty folder, or overwrite=true to "
            "replace what is there"
        )
    for split in (*SPLITS, "test"):
        shutil.rmtree(out / split, ignore_errors=True)
    (out / MARKER).unlink(missing_ok=True)
    return None


def chunk_count(split_dir: Path) -> int:
    """The number of records ``index.json`` lists in a written split folder."""
    index = json.loads((split_dir / "index.json").read_text())
    return sum(int(chunk["chunk_size"]) for chunk in index["chunks"])


def write_shards(
    source: ImageSource,
    out: str | os.PathLike,
    root: str | None = None,
    splits: Sequence[str] = SPLITS,
    workers: int = 1,
    chunk_bytes: str = "64MB",
    compression: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareResult:
    """Write ``splits`` of ``source`` under ``out`` as LitData chunks; see the module doc.

    Running it again after an interruption resumes (the same ``source`` and settings; the
    splits done are skipped, a split half done continues from LitData's last checkpoint).
    """
    litdata = import_litdata()
    out = Path(out).expanduser()
    settings = _settings(source, workers, chunk_bytes, compression)
    marker = _check_out(out, root, settings, overwrite) or {**settings, "done": {}}
    out.mkdir(parents=True, exist_ok=True)
    _write_marker(out, marker)
    result = PrepareResult(out)
    for split in splits:
        split_dir = out / split
        done = marker["done"].get(split)
        if done is not None and (split_dir / "index.json").is_file():
            result.counts[split], result.skipped = int(done), [*result.skipped, split]
            continue
        paths = source.paths(split)
        if not paths:
            raise DataError(f"the {split} split of {source!r} has no images")
        items = split_items(paths)
        base = str(root) if root is not None else os.path.commonpath([i[1] for i in items])
        if progress:
            print(f"{split}: {len(items)} images -> {split_dir}", flush=True)
        litdata.optimize(
            partial(image_record, base),
            items,
            output_dir=str(split_dir),
            chunk_bytes=chunk_bytes,
            compression=compression,
            num_workers=int(workers),
            use_checkpoint=True,  # resumable: a rerun continues where it stopped
            reorder_files=False,  # records in list order: position i of the stream = index i
            keep_data_ordered=True,
            verbose=progress,
            start_method="fork" if sys.platform.startswith("linux") else None,
        )
        written = chunk_count(split_dir)
        if written != len(items):
            raise DataError(f"{split_dir} holds {written} records, {len(items)} were listed")
        shutil.rmtree(split_dir / ".checkpoints", ignore_errors=True)
        marker["done"][split] = written
        _write_marker(out, marker)
        result.counts[split] = written
    result.bytes_written = sum(f.stat().st_size for f in out.rglob("*.bin"))
    return result

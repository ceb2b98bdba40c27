"""Loader benchmark of docs/performance.md: the file loader against the LitData loader.

    python scripts/bench_streaming.py                      # 4 copies of the 41 sample photos
    python scripts/bench_streaming.py --copies 2 --workers 0 --index-entries 100000

1. **Throughput**: the embedded sample photos (256², JPEG) copied ``--copies`` times into a
   temporary ``train/`` folder, written as LitData chunks (``inpaintgan.prepare``'s code),
   then one training pass of each loader at the same settings (256² crops, irregular masks,
   batch 8, each ``--workers`` count), ``--passes`` times; the best pass counts (each pass
   includes its worker start-up, as an epoch does without persistent workers).
2. **Start-up with a large index**: a synthetic ``train/`` and ``val/`` of
   ``--index-entries`` records each (chunks of 2,000 records listed in ``index.json``; the
   chunk files hold a valid header, the rest is sparse and never read), then the time
   and resident memory of ``InpaintingDataModule(format="litdata").setup("fit")`` plus the
   first ``iter()`` of the training loader (the shuffle plan of every chunk), in a fresh
   process.

Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def throughput(args: argparse.Namespace, work: Path) -> None:
    from inpaintgan.data.datamodule import InpaintingDataModule
    from inpaintgan.data.datasets import FolderSource, sample_root
    from inpaintgan.data.masks import IrregularMask
    from inpaintgan.data.shards import write_shards

    root = work / "photos"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    photos = sorted(sample_root().glob("*.jpg"))
    for copy in range(args.copies):
        for photo in photos:
            shutil.copy(photo, root / "train" / f"{copy}_{photo.name}")
    shutil.copy(photos[0], root / "val" / photos[0].name)
    start = time.perf_counter()
    write_shards(FolderSource(root), work / "shards", root=str(root), workers=1, progress=False)
    n = args.copies * len(photos)
    seconds = time.perf_counter() - start
    print(json.dumps({"prepare": {"images": n, "seconds": round(seconds, 2)}}), flush=True)
    for workers in args.workers:
        for fmt, data_root in (("files", root), ("litdata", work / "shards")):
            module = InpaintingDataModule(
                FolderSource(root) if fmt == "files" else None,
                IrregularMask(),
                size=256,
                batch_size=8,
                num_workers=workers,
                root=str(data_root),
                format=fmt,
            )
            loader = module.loader("train")
            rates = []
            for _ in range(args.passes):
                start = time.perf_counter()
                count = sum(len(batch["name"]) for batch in loader)
                rates.append(count / (time.perf_counter() - start))
            row = {"loader": fmt, "workers": workers, "images": count}
            row["images_per_s"] = round(max(rates), 1)
            row["all_passes"] = [round(r, 1) for r in rates]
            print(json.dumps(row), flush=True)


def fake_index(work: Path, entries: int) -> Path:
    """``train/`` and ``val/`` of ``entries`` records each: a real index.json (the config of a
    real prepare) listing chunks of 2,000 records, over sparse chunk files."""
    from inpaintgan.data.datasets import FolderSource, sample_root
    from inpaintgan.data.shards import write_shards

    seed = work / "seed"
    (seed / "train").mkdir(parents=True)
    (seed / "val").mkdir()
    photo = sorted(sample_root().glob("*.jpg"))[0]
    shutil.copy(photo, seed / "train" / photo.name)
    shutil.copy(photo, seed / "val" / photo.name)
    write_shards(FolderSource(seed), work / "seed_shards", root=str(seed), progress=False)
    config = json.loads((work / "seed_shards" / "train" / "index.json").read_text())["config"]
    out = work / "big"
    per_chunk, chunk_bytes = 2000, 2000 * 30_000
    for split in ("train", "val"):
        folder = out / split
        folder.mkdir(parents=True)
        chunks = []
        for i in range(-(-entries // per_chunk)):
            size = min(per_chunk, entries - i * per_chunk)
            name = f"chunk-0-{i}.bin"
            header = 4 + 4 * (size + 1)  # LitData's chunk header: count, then item offsets
            offsets = header + 30_000 * np.arange(size + 1, dtype=np.uint32)
            with open(folder / name, "wb") as handle:
                handle.write(np.uint32(size).tobytes() + offsets.astype(np.uint32).tobytes())
                handle.truncate(chunk_bytes)  # sparse: the records are never read
            chunks.append(
                {"chunk_bytes": chunk_bytes, "chunk_size": size, "dim": None, "filename": name}
            )
        index = {"chunks": chunks, "config": {**config, "chunk_bytes": chunk_bytes}}
        (folder / "index.json").write_text(json.dumps(index))
    return out


STARTUP = """
import json, sys, time
sys.path.insert(0, {repo!r})
from bench_streaming import rss_mb
import torch, pytorch_lightning, litdata  # imports counted apart
from inpaintgan.data.datamodule import InpaintingDataModule
from inpaintgan.data.masks import IrregularMask
before = rss_mb()
start = time.perf_counter()
module = InpaintingDataModule(None, IrregularMask(), size=256, batch_size=32, num_workers=0,
                              root={root!r}, format="litdata", val_subset=2000)
module.setup("fit")
loader = module.loader("train")
batches = len(loader)
dataset = loader.dataset
dataset.__iter__()  # the per-epoch shuffle plan (no record is read)
seconds = time.perf_counter() - start
print(json.dumps({{"startup": {{"entries": {entries}, "seconds": round(seconds, 2),
    "rss_mb_over_imports": round(rss_mb() - before, 1), "train_batches": batches,
    "val_images": len(module.dataset("val"))}}}}))
"""


def startup(args: argparse.Namespace, work: Path) -> None:
    out = fake_index(work, args.index_entries)
    code = STARTUP.format(
        repo=str(Path(__file__).parent), root=str(out), entries=args.index_entries
    )
    env = {**os.environ, "LITDATA_CACHE_DIR": str(work / "cache")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    print(lines[-1] if lines else done.stderr[-2000:], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--index-entries", type=int, default=1_000_000)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_streaming_") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            throughput(args, work)
        startup(args, work)


if __name__ == "__main__":
    main()

"""`python -m inpaintgan.prepare data=places2|celeba|folder data.root=PATH out=FOLDER`.

Writes the training and validation splits of a data set as LitData chunks under ``out``
(``out/train/``, ``out/val/``: the image files' bytes as they are, plus name and size), to
be streamed with ``data.format=litdata data.root=out`` from the folder or from a bucket
(:mod:`inpaintgan.data.shards`, docs/data.md). Running the same command again after an
interruption resumes; an ``out`` holding anything else is refused without
``overwrite=true``.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR, build, one_of, whole_number
from inpaintgan.data.shards import PrepareResult, write_shards
from inpaintgan.errors import UsageError, run_command


def prepare(cfg: DictConfig) -> PrepareResult:
    """Check the options (one line each), then write the chunks (:func:`write_shards`)."""
    out = cfg.get("out")
    if out in (None, "", "???"):
        raise UsageError("out is not set: out=FOLDER, where the chunks are written")
    if "://" in str(out) or str(out).startswith("local:"):
        raise UsageError(
            f"out={out}: write to a local folder, then copy it to the bucket "
            "(aws s3 sync / gcloud storage rsync; docs/data.md)"
        )
    splits = [one_of(str(s), "splits", ("train", "val", "test")) for s in cfg.get("splits")]
    compression = cfg.get("compression")
    one_of(compression, "compression", (None, "zstd"))
    return write_shards(
        build(cfg.data.source, "data.source"),
        out,
        root=cfg.data.get("root"),
        splits=splits,
        workers=int(whole_number(cfg.get("workers", 1), "workers", minimum=1)),
        chunk_bytes=str(cfg.get("chunk_bytes", "64MB")),
        compression=compression,
        overwrite=bool(one_of(cfg.get("overwrite", False), "overwrite", (True, False))),
        progress=bool(one_of(cfg.get("progress", True), "progress", (True, False))),
    )


@hydra.main(config_path=CONFIG_DIR, config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Write ``cfg.data``'s splits as LitData chunks under ``cfg.out``."""
    result = run_command("prepare", prepare, cfg, writes_to=cfg.get("out") or ".")
    counts = ", ".join(f"{split} {n}" for split, n in result.counts.items())
    resumed = f" ({', '.join(result.skipped)} already written)" if result.skipped else ""
    print(
        f"wrote {result.out} ({counts} records, {result.bytes_written / 2**20:.1f} MB){resumed}: "
        f"train with data.format=litdata data.root={result.out} (or the bucket it is copied to)"
    )


if __name__ == "__main__":
    main()

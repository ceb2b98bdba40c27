"""Experiment loggers that never hang or fail for lack of network or W&B credentials.

Every image a logger gets is 8-bit RGB (:func:`inpaintgan.pixels.to_uint8_image`). Also the
W&B run name and group of a Hydra multirun job, and a reader of offline W&B runs (for tests
and checks).
"""

from __future__ import annotations

import json
import netrc
import os
import re
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor

from inpaintgan.pixels import to_uint8_image

# ------------------------------------------------------------------------------- W&B mode


def wandb_credentials_present() -> bool:
    """True when W&B has an API key: WANDB_API_KEY or an api.wandb.ai entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc_path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return netrc.netrc(netrc_path).authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, PermissionError):
        return False


def resolve_wandb_mode(mode: str = "auto") -> str:
    """``auto`` → WANDB_MODE if set, else online with credentials, else offline."""
    if mode != "auto":
        return mode
    env_mode = os.environ.get("WANDB_MODE")
    if env_mode:
        return env_mode
    return "online" if wandb_credentials_present() else "offline"


# --------------------------------------------------------------------- multirun naming


def sweep_group_name(sweep_dir: str | Path) -> str:
    """The W&B group of a multirun: its sweep folder, ``<date>_<time>`` for the default
    ``multirun/<date>/<time>`` layout, else the folder's name."""
    path = Path(sweep_dir)
    if re.fullmatch(r"\d\d-\d\d-\d\d", path.name) and re.fullmatch(
        r"\d{4}-\d\d-\d\d", path.parent.name
    ):
        return f"{path.parent.name}_{path.name}"
    return path.name


def swept_keys(sweep_dir: str | Path, sweeper_params: dict[str, Any] | None = None) -> list[str]:
    """The config keys a multirun varies: sweeps on its command line (read back from the
    ``multirun.yaml`` Hydra writes into the sweep folder) and ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    keys = list(sweeper_params or {})
    saved = Path(sweep_dir) / "multirun.yaml"
    if saved.is_file():
        task = OmegaConf.select(OmegaConf.load(saved), "hydra.overrides.task", default=[]) or []
        for override in OverridesParser.create().parse_overrides(list(task)):
            if override.is_sweep_override() and override.key_or_group not in keys:
                keys.append(override.key_or_group)
    return keys


def job_run_name(job_overrides: list[str], keys: list[str], job_num: int | None = None) -> str:
    """``key=value`` of this job for each swept key, space-separated (``job<N>`` if none)."""
    picked = []
    for item in job_overrides:
        key, _, value = item.partition("=")
        if key.lstrip("+~") in keys:
            picked.append(f"{key.lstrip('+~')}={value}")
    if picked:
        return " ".join(picked)
    return f"job{job_num}" if job_num is not None else "job"


def hydra_multirun_identity() -> tuple[str | None, str | None]:
    """``(group, name)`` for a job of a Hydra multirun, ``(None, None)`` otherwise."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None, None
    params = hydra_cfg.sweeper.get("params") if "sweeper" in hydra_cfg else None
    keys = swept_keys(hydra_cfg.sweep.dir, dict(params) if params else None)
    name = job_run_name(list(hydra_cfg.overrides.task), keys, hydra_cfg.job.get("num"))
    return sweep_group_name(hydra_cfg.sweep.dir), name


# ------------------------------------------------------------------------------- logger


def wandb_logger(
    project: str = "inpaintgan",
    save_dir: str = ".",
    mode: str = "auto",
    name: str | None = "auto",
    run_id: str | None = None,
    entity: str | None = None,
    group: str | None = "auto",
    tags: list[str] | None = None,
    log_model: bool = False,
    job_type: str | None = "train",
    init_timeout_s: float = 60.0,
) -> WandbLogger:
    """A WandbLogger online when configured and offline otherwise; ``run_id`` resumes a run.

    ``group``/``name`` ``auto``: in a Hydra multirun, the sweep folder and the job's swept
    ``key=value`` pairs (W&B's own choice otherwise). ``log_model``: upload ``last`` and
    ``best`` checkpoints as artifacts at the end of training, online only (done by
    :class:`inpaintgan.callbacks.WandbModelArtifacts`, not Lightning, whose upload labels
    last.ckpt as best). A W&B run still open in this process (the previous job of a
    multirun) is finished first, so that each run logs into its own W&B run.
    """
    import wandb

    auto_group, auto_name = hydra_multirun_identity()
    group = auto_group if group == "auto" else group
    name = auto_name if name == "auto" else name
    resolved = resolve_wandb_mode(mode)
    if resolved != "online":
        if log_model:
            rank_zero_info("W&B: log_model needs an online run; checkpoints stay on disk only")
        log_model = False  # W&B cannot upload artifacts offline
        rank_zero_info(
            f"W&B: {resolved} mode (no credentials or WANDB_MODE={resolved}); "
            f"sync later with `wandb sync {save_dir}/wandb/offline-run-*`"
        )
    if wandb.run is not None:
        wandb.finish()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        id=run_id,
        resume="allow" if run_id else None,
        entity=entity,
        group=group,
        tags=list(tags) if tags else None,
        job_type=job_type,
        log_model=False,
        mode=resolved,
        settings=wandb.Settings(init_timeout=init_timeout_s, silent=True),
    )
    logger.upload_checkpoints = bool(log_model)  # read by callbacks.WandbModelArtifacts
    # Lightning always passes anonymous=None, which wandb >= 0.19 answers with "WARNING The
    # anonymous setting has no effect": leave it out (None is wandb's default anyway).
    init_kwargs = getattr(logger, "_wandb_init", None)
    if isinstance(init_kwargs, dict) and init_kwargs.get("anonymous") is None:
        init_kwargs.pop("anonymous", None)
    return logger


def finish_wandb_run(failed: bool = False) -> None:
    """Close this process's W&B run, if any (exit code 1 when ``failed``), so its files are
    complete when the job returns, before the next job of a multirun or the process exit."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)


# ------------------------------------------------------------------ evaluation runs

EVAL_METRICS = ("psnr", "ssim", "hole_psnr", "hole_l1", "hole_ratio", "lpips", "fid")
"""Numbers of ``metrics.json`` that go into an evaluation run's W&B summary (``eval/...``)."""


def evaluation_thumbnails(image: Tensor, mask: Tensor, comp: Tensor, size: int) -> list[np.ndarray]:
    """masked input, composite and ground truth of one image (``[3|1, H, W]`` in [0, 1]),
    downscaled to ``size`` px on the longer side, as 8-bit RGB."""
    height, width = image.shape[-2:]
    scale = min(1.0, size / max(height, width))
    target = (max(1, round(height * scale)), max(1, round(width * scale)))
    views = torch.stack([image * (1 - mask) + mask, comp, image]).float().cpu()
    if target != (height, width):
        views = torch.nn.functional.interpolate(views, size=target, mode="bilinear", antialias=True)
    return [to_uint8_image(view) for view in views]


def log_evaluation(
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    thumbnails: dict[str, list[np.ndarray]],
    save_dir: str | Path,
    project: str = "inpaintgan",
    mode: str = "auto",
    entity: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    init_timeout_s: float = 60.0,
) -> str | None:
    """One W&B run (job type ``evaluate``) for an evaluation: ``metrics.json``'s numbers in
    the summary (``eval/psnr``, ...), what was scored in the config, and the table
    ``eval/per_image`` (name, thumbnails of masked input | composite | ground truth for the
    images in ``thumbnails``, and the per-image metrics). Returns the run id (None when
    ``mode=disabled``)."""
    import wandb

    resolved = resolve_wandb_mode(mode)
    if resolved == "disabled":
        return None
    if resolved != "online":
        rank_zero_info(
            f"W&B: {resolved} mode; sync later with `wandb sync {save_dir}/wandb/offline-run-*`"
        )
    finish_wandb_run()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in summary.items() if k not in EVAL_METRICS}  # + its "config"
    run = wandb.init(
        project=project,
        entity=entity,
        dir=str(save_dir),
        mode=resolved,
        job_type="evaluate",
        name=name or f"{summary.get('model')} · {summary.get('data')} · {summary.get('mask')}",
        group=group,
        tags=list(tags) if tags else None,
        config=config,
        settings=wandb.Settings(init_timeout=init_timeout_s, silent=True),
    )
    try:
        metric_keys = [
            k
            for k in ("psnr", "ssim", "hole_psnr", "hole_l1", "hole_ratio")
            if rows and k in rows[0]
        ]
        columns = ["name", "masked input", "composite", "ground truth", *metric_keys]
        table = wandb.Table(columns=columns, allow_mixed_types=True)
        for row in rows:
            views = thumbnails.get(row["name"])
            images = [wandb.Image(v) for v in views] if views else [None, None, None]
            table.add_data(row["name"], *images, *(row[k] for k in metric_keys))
        run.log({"eval/per_image": table})
        run.summary.update(
            {f"eval/{k}": summary[k] for k in EVAL_METRICS if summary.get(k) is not None}
        )
    finally:
        run.finish()
    return run.id


# ------------------------------------------------------------------ offline run reader

_LOG_IDENT = b":W&B"
_HEADER_LEN = 7  # ident (4) + magic (2) + version (1); then records with 7-byte headers
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _record_payloads(path: Path) -> list[bytes]:
    """Payloads of a ``run-<id>.wandb`` file (W&B's LevelDB-style log of 32 KiB blocks)."""
    data = path.read_bytes()
    if data[:4] != _LOG_IDENT:
        raise ValueError(f"{path} is not a W&B run log")
    payloads: list[bytes] = []
    pos, pending = _HEADER_LEN, b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:  # zero padding up to the block end
            pos += left
            continue
        if pos + 7 + length > len(data):  # still being written
            break
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == _FULL:
            payloads.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            payloads.append(pending + chunk)
            pending = b""
    return payloads


def _set_nested(target: dict[str, Any], item: Any) -> None:
    keys = list(item.nested_key) or [item.key]
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = json.loads(item.value_json)


@dataclass
class OfflineRun:
    """What an offline W&B run holds, read from its ``run-<id>.wandb`` log."""

    path: Path
    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False  # the run's exit record is in the log

    @property
    def files(self) -> Path:
        """The run's ``files/`` folder (``media/images/...`` lies under it)."""
        return self.path / "files"


def read_offline_run(run_dir: str | Path, wait_s: float = 0.0) -> OfflineRun:
    """Read an ``offline-run-*`` folder: run name, group, tags, config, summary, history
    rows and artifacts, as ``wandb sync`` would upload them (a check without network).

    An artifact's ``files`` maps its paths to the local files ``wandb sync`` uploads (W&B
    stages them under ``$WANDB_DATA_DIR``, ``~/.local/share/wandb`` by default).
    W&B's service writes the log in the background and may still be flushing it when the
    run has just finished: ``wait_s`` waits that long at most for the exit record.
    """
    deadline = time.monotonic() + wait_s
    while True:
        run = _read_offline_run(Path(run_dir))
        if run.finished or time.monotonic() >= deadline:
            return run
        time.sleep(0.2)


def _read_offline_run(run_dir: Path) -> OfflineRun:
    from wandb.proto import wandb_internal_pb2 as pb

    (log_file,) = run_dir.glob("run-*.wandb")
    run = OfflineRun(path=run_dir)
    for payload in _record_payloads(log_file):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.name, run.group, run.job_type = (
                r.run_id,
                r.display_name,
                r.run_group,
                r.job_type,
            )
            run.tags = list(r.tags)
            for item in r.config.update:
                _set_nested(run.config, item)
        elif kind == "config":
            for item in record.config.update:
                _set_nested(run.config, item)
        elif kind == "summary":
            for item in record.summary.update:
                _set_nested(run.summary, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set_nested(row, item)
            run.history.append(row)
        elif kind == "artifact":
            a = record.artifact
            files = {e.path: e.local_path for e in a.manifest.contents}
            run.artifacts.append(
                {"name": a.name, "type": a.type, "aliases": list(a.aliases), "files": files}
            )
        elif kind == "exit":
            run.finished = True
    return run

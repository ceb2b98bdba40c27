"""Experiment loggers that never hang or fail for lack of network or W&B credentials."""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_info


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


def wandb_logger(
    project: str = "inpaintgan",
    save_dir: str = ".",
    mode: str = "auto",
    name: str | None = None,
    run_id: str | None = None,
    entity: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    log_model: bool = False,
    init_timeout_s: float = 60.0,
) -> WandbLogger:
    """A WandbLogger online when configured and offline otherwise; ``run_id`` resumes a run."""
    import wandb

    resolved = resolve_wandb_mode(mode)
    if resolved != "online":
        log_model = False  # W&B cannot upload artifacts offline
        rank_zero_info(
            f"W&B: {resolved} mode (no credentials or WANDB_MODE={resolved}); "
            f"sync later with `wandb sync {save_dir}/wandb/offline-run-*`"
        )
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        id=run_id,
        resume="allow" if run_id else None,
        entity=entity,
        group=group,
        tags=list(tags) if tags else None,
        log_model=log_model,
        mode=resolved,
        settings=wandb.Settings(init_timeout=init_timeout_s, silent=True),
    )

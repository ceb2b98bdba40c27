"""`python -m inpaintgan.demo ckpt=PATH`: a local web page to inpaint your own photos.

Upload a photo, paint the region to fill with a brush (size, undo, clear), pick a model,
run it, compare the result with the input and download it as PNG. The menu holds the
checkpoints (``ckpt=``, ``ckpts=[a.ckpt,b.ckpt]``) and the classical methods (``model=telea``,
``models=[telea,ns,mean_fill]``, the default). Photos over ``max_side`` are filled downscaled
and only the fill is upscaled back, as ``predict`` does. The app is ``inpaintgan.webdemo``;
this command only loads the models and serves it (see docs/demo.md).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR, real_number, whole_number
from inpaintgan.errors import run_command
from inpaintgan.webdemo import create_app, load_inpainters
from inpaintgan.webdemo.serve import check_port, serve


def demo(cfg: DictConfig) -> None:
    """Load the models of ``cfg``, check the port, and serve the page until Ctrl-C."""
    real_number(cfg.get("max_upload_mb"), "max_upload_mb", positive=True)
    whole_number(cfg.get("max_pixels"), "max_pixels")
    whole_number(cfg.get("max_side"), "max_side", none=True)
    port = whole_number(cfg.get("port"), "port", minimum=0, maximum=65535)  # 0: any free
    check_port(str(cfg.host), int(port))
    ckpts = ([cfg.ckpt] if cfg.get("ckpt") else []) + list(cfg.get("ckpts") or [])
    inpainters = load_inpainters(ckpts, list(cfg.get("models") or []), cfg.device, cfg.get("model"))
    app = create_app(
        inpainters,
        max_side=cfg.get("max_side"),
        max_upload_mb=float(cfg.max_upload_mb),
        max_pixels=int(cfg.max_pixels),
    )
    device = next(iter(inpainters.values())).device
    print(
        f"inpaintgan.demo: {len(inpainters)} model(s) on {device} ({', '.join(inpainters)}); "
        f"open http://{cfg.host}:{cfg.port} (Ctrl-C stops)",
        flush=True,
    )
    serve(app, str(cfg.host), int(cfg.port))


@hydra.main(config_path=CONFIG_DIR, config_name="demo", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; a usage error (bad checkpoint, busy port) is one line, exit 2."""
    run_command("demo", demo, cfg)


if __name__ == "__main__":
    main()

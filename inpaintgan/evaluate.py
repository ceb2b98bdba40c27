"""`python -m inpaintgan.evaluate ckpt=PATH data=celeba data.root=DIR mask=center out=DIR`.

Scores a trained generator (``ckpt=``) or a classical baseline (``model=telea|ns|mean_fill``)
on a data set with its fixed evaluation masks: PSNR and SSIM on the composited output (the
paper's Table 1), plus L1 and PSNR inside the hole, and LPIPS / FID with
``metrics=[psnr,ssim,lpips,fid]`` (refused in one line without their weights).
``mask=buckets`` scores each hole-ratio bucket, (0, 10 %] ... (50, 60 %], on masks written
to disk once. Writes ``out/metrics.json``, ``out/per_image.csv`` and, with
``save_images=true``, the composites as ``out/images/``.

The work is :func:`inpaintgan.evaluation.evaluate`; the model runs behind
:class:`inpaintgan.inpainter.Inpainter`, the one call that ``inpaintgan.predict`` runs too.
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR
from inpaintgan.errors import run_command
from inpaintgan.evaluation import evaluate, print_summary


@hydra.main(config_path=CONFIG_DIR, config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; user mistakes are one line on stderr and exit code 2."""
    choices = HydraConfig.get().runtime.choices
    # out/ not writable (read-only, permission, disk full): one line, exit code 1
    summary = run_command("evaluate", evaluate, cfg, choices, writes_to=cfg.out, write_exit_code=1)
    print_summary(summary, cfg.out)


if __name__ == "__main__":
    main()

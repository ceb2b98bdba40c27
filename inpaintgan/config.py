"""Locate the Hydra config tree both in a source checkout and in an installed wheel."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from inpaintgan.errors import UsageError, UserError, one_line
from inpaintgan.models.discriminators import discriminator_input_size

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find_config_dir() -> Path:
    """The wheel ships conf/ as ``inpaintgan/conf``; a checkout keeps it beside the package."""
    for candidate in (_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"inpaintgan: config directory not found next to {_PACKAGE_DIR} (expected conf/train.yaml)"
    )


# ``${d_input_size:MODE,SIZE,SCALE}`` sizes the DCGAN discriminator for what it sees.
OmegaConf.register_new_resolver("d_input_size", discriminator_input_size, replace=True)


def run_suffix() -> str:
    """A short token that tells apart runs started in the same second (``${run_suffix:}``).

    Six random hex digits (1 in 16.7 million for two runs of the same second), so runs
    started at the same instant, on one machine or in a job array on a shared file system,
    never share a folder. Hydra caches it per config and copies the cache into every job of
    a multirun; Lightning's DDP ranks get the resolved folder: a run keeps one value.
    """
    return secrets.token_hex(3)


OmegaConf.register_new_resolver("run_suffix", run_suffix, use_cache=True, replace=True)

CONFIG_DIR: str = str(_find_config_dir())

CLASSICAL_CONFIG_DIR: str = str(Path(CONFIG_DIR) / "classical" / "model")
"""The classical fills' configs (``telea.yaml``, ``ns.yaml``, ``mean_fill.yaml``): not in
``conf/model/``, which holds the trainable models only. The entry configs that accept
``model=telea`` add ``conf/classical`` to their Hydra search path (``${config_dir:}``)."""

# ``file://${config_dir:}/classical`` in an entry config's ``hydra.searchpath``: conf/ wherever
# it is (a checkout or an installed wheel), so the search path never depends on the cwd.
OmegaConf.register_new_resolver("config_dir", lambda: CONFIG_DIR, replace=True)


def accept_plus_experiment(args: Sequence[str]) -> list[str]:
    """``args`` with ``+experiment=NAME`` spelled ``experiment=NAME`` (anything else as is).

    train.yaml lists ``experiment: null`` in its defaults, so ``experiment=NAME`` selects a
    preset; Hydra refuses to *append* (``+``) a group its defaults already list, and
    ``+experiment=NAME`` is the spelling of every earlier command line and script, so
    ``python -m inpaintgan.train`` reads both the same way.
    """
    prefix = "+experiment="
    return [a[1:] if a.startswith(prefix) else a for a in args]


# ------------------------------------------------------------- checks of single values
# Each command checks its options with these before anything is built: a bad value is one
# UsageError line naming the key, the value and what is allowed (exit 2), never a traceback.
def whole_number(
    value: Any, key: str, minimum: int = 1, maximum: int | None = None, none: bool = False
) -> int | None:
    """``value`` as an int in ``[minimum, maximum]`` (None passes when ``none``), else a
    UsageError such as ``batch_size=0: must be a whole number >= 1``."""
    if value is None and none:
        return None
    limits = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
    allowed = f"must be a whole number {limits}" + (" or null" if none else "")
    if isinstance(value, bool):
        raise UsageError(f"{key}={value}: {allowed}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key}={value}: {allowed}") from None
    if not math.isfinite(number) or number != int(number):
        raise UsageError(f"{key}={value}: {allowed}")
    if number < minimum or (maximum is not None and number > maximum):
        raise UsageError(f"{key}={value}: {allowed}")
    return int(number)


def real_number(
    value: Any, key: str, minimum: float | None = None, positive: bool = False, none: bool = False
) -> float | None:
    """``value`` as a finite float (``> 0`` with ``positive``, ``>= minimum``; None passes
    when ``none``), else a one-line UsageError naming the key, the value and the rule."""
    if value is None and none:
        return None
    if positive:
        allowed = "must be positive (a finite number > 0)"
    elif minimum is not None:
        allowed = f"must be a finite number >= {minimum}"
    else:
        allowed = "must be a finite number"
    allowed += " or null" if none else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{key}={value}: {allowed}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise UsageError(f"{key}={value}: {allowed}")
    if (positive and number <= 0) or (minimum is not None and number < minimum):
        raise UsageError(f"{key}={value}: {allowed}")
    return number


def one_of(value: Any, key: str, allowed: Iterable[Any]) -> Any:
    """``value`` when it is one of ``allowed``, else a UsageError listing them."""
    options = list(allowed)
    if value in options:
        return value
    raise UsageError(f"{key}={value}: must be one of {', '.join(str(o) for o in options)}")


def build(node: Any, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)`` of the option ``key`` (``mask``, ``data``)
    whose refusal of a value is one UsageError line naming the key (``mask: fraction must be
    in (0, 1], got 0.0``) instead of Hydra's InstantiationException trace. Only for configs
    of the command line, never for one read from a file (:mod:`inpaintgan.checkpoints`)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, UserError):
            raise cause from err
        if isinstance(cause, ValueError | TypeError):
            raise UsageError(f"{key}: {one_line(cause)}") from err
        raise


if __name__ == "__main__":
    print(CONFIG_DIR)

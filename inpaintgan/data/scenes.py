"""Group photos of one scene, so that a split by scene keeps near-duplicate shots together.

A random split by file put shots of one series on both sides (``pexels-7303992`` in test,
``pexels-7303995`` in train, ``pexels-7303994`` in val; ``aero3`` in test, ``aero1`` in
train): a test score then partly measures memory of the training photos. The key is read
from the file name, the only scene information a folder of photos carries:

* a long photo number (stock-photo IDs, ≥ 6 digits) → the series: the number without its last
  three digits (shots uploaded together get consecutive IDs: 7303773, 7303788, 7303800 ...);
* otherwise the stem without its trailing counter (``aero1``, ``aero3`` → ``aero``;
  ``scenetext01`` → ``scenetext``; ``Picture_0B``, ``Picture_1A`` → ``Picture``).

It is deliberately coarse: grouping two unrelated photos only moves them to the same side.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["scene_key"]

_LONG_NUMBER = re.compile(r"(\d{6,})")
_COUNTER = re.compile(r"[_\-\s]*\d+[A-Za-z]?$")


def scene_key(path: str | Path) -> str:
    """The scene a photo belongs to, from its file name (see the module docstring)."""
    stem = Path(path).stem
    number = _LONG_NUMBER.search(stem)
    if number:
        return f"#{number.group(1)[:-3]}"
    base = _COUNTER.sub("", stem)
    return (base or stem).lower()

"""The browser demo (``python -m inpaintgan.demo``): a FastAPI app serving one static page
where a photo is uploaded, the region to fill is painted with a brush, and the result of a
chosen inpainter (checkpoints, classical methods) is shown and downloaded.

- :mod:`~inpaintgan.webdemo.app`: :func:`create_app` and the JSON API;
- :mod:`~inpaintgan.webdemo.uploads`: uploaded bytes → arrays, bad uploads → one line;
- :mod:`~inpaintgan.webdemo.models`: the menu of inpainters (:func:`load_inpainters`);
- :mod:`~inpaintgan.webdemo.serve`: port check, serving (also in a thread, for scripts);
- ``static/``: ``index.html``, ``app.js`` (the canvas brush), ``style.css``.
"""

from inpaintgan.webdemo.app import create_app
from inpaintgan.webdemo.models import classical_configs, load_inpainters
from inpaintgan.webdemo.uploads import UploadError

__all__ = ["UploadError", "classical_configs", "create_app", "load_inpainters"]

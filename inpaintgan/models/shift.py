"""The shift operation of Shift-Net (Yan et al. 2018) and its feature-level hole.

Each missing-region position of the decoder feature is matched (cosine similarity of 1×1
feature vectors) against every known-region position of the encoder feature of the same
image, and the best-matching encoder vector is pasted there. This is what the paper's
"shift-connection layer" re-arranges (NOTES.md, ambiguity 4).

Two implementations of one rule, equal to a brute-force loop (tests/test_shift.py):

* ``dense`` — static shapes, no host synchronisation: the ``[B, N, N]`` similarity of every
  position against every position (N = h·w), known keys only (hole keys masked to −inf),
  then argmax and ``gather``. Nothing depends on the hole's size or position, so
  ``torch.compile(fullgraph=True)`` does not recompile for a new hole, and ONNX/TorchScript
  exports keep the data-dependent gather as such. Used on GPUs (128 MiB at batch 32 and 32²),
  under compile, tracing and export. Large maps are chunked over queries in eager mode only.
* ``compact`` — only hole queries × known keys enter the matmul (positions sorted so every
  image's holes, resp. known positions, come first, padded to the largest count): about 5×
  fewer FLOPs for a quarter-size hole, which is what the CPU wants; it reads the hole counts
  on the host (``.item()``), so it is used in eager mode on the CPU only.

Both: queries need no normalisation (a positive per-query factor does not change the
argmax); keys are divided by ``max(‖e‖, eps)``, so zero vectors give similarity 0, never NaN;
similarities are float32 under ``no_grad`` even under autocast; ties go to the first known
position in raster order; the output keeps the encoder's memory layout (channels_last stays
channels_last), and autograd carries its gradient to ``encoder`` at the chosen positions
only: nothing flows through the argmax or into ``decoder``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inpaintgan.models.base import is_channels_last

__all__ = [
    "DENSE_CHUNK_ELEMENTS",
    "SHIFT_METHODS",
    "SIMILARITY_CHUNK_ELEMENTS",
    "ShiftLayer",
    "feature_hole",
    "resolve_shift_method",
    "shift_known_to_hole",
]

#: Upper bound on the elements of one compact similarity block (float32: 16 MiB).
SIMILARITY_CHUNK_ELEMENTS = 4 * 1024 * 1024

#: Eager dense similarities above this many elements are computed in query chunks (1 GiB).
DENSE_CHUNK_ELEMENTS = 256 * 1024 * 1024

#: ``auto`` picks ``compact`` in eager mode on the CPU and ``dense`` everywhere else.
SHIFT_METHODS = ("auto", "dense", "compact")

_EPS = 1e-8


def feature_hole(mask: Tensor, size: tuple[int, int], threshold: float = 0.5) -> Tensor:
    """The feature-level hole: the image mask downsampled to a feature map's size.

    Rule: a feature position is in the hole when at least ``threshold`` of the image pixels
    of its cell are missing (area average of the mask, then ``>= threshold``). With the
    default 0.5 a cell counts as missing when half or more of it is. A hole smaller than
    that at this resolution vanishes: the result is all False and the shift is a no-op.
    When ``H/h`` and ``W/w`` are integers (always, in the U-Net) the average is an
    ``avg_pool2d`` with that fixed factor, so an export stays valid at every image size.

    Args:
        mask: float ``[B, 1, H, W]``, 1 = missing pixel.
        size: ``(h, w)`` of the feature map; ``H/h`` and ``W/w`` are normally integers.
        threshold: fraction of missing pixels that makes a feature position missing.

    Returns:
        bool ``[B, 1, h, w]``, True where the feature position is missing.
    """
    height, width = mask.shape[-2:]
    h, w = size[0], size[1]  # not int(): a trace keeps them read from the input
    if height % h == 0 and width % w == 0:
        coverage = F.avg_pool2d(mask.float(), (height // h, width // w))
    else:
        coverage = F.adaptive_avg_pool2d(mask.float(), (h, w))
    return coverage >= threshold


def _capturing_graph() -> bool:
    """True while torch.compile, TorchScript tracing/scripting or ONNX export records us."""
    return bool(
        torch.compiler.is_compiling()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
    )


def resolve_shift_method(method: str, device: torch.device) -> str:
    """The implementation ``method`` runs as on ``device`` now: ``auto`` → ``compact`` in eager
    mode on the CPU, else ``dense``; an unknown name is a ValueError."""
    if method not in SHIFT_METHODS:
        raise ValueError(f"shift method must be one of {SHIFT_METHODS}, got {method!r}")
    if method != "auto":
        return method
    return "compact" if device.type == "cpu" and not _capturing_graph() else "dense"


def shift_known_to_hole(
    decoder: Tensor, encoder: Tensor, hole: Tensor, method: str = "auto"
) -> Tensor:
    """Paste into every hole position the most similar known encoder vector.

    For each image ``b`` and each hole position ``p`` (``hole[b, 0, p]`` True) the output is
    ``encoder[b, :, q*]`` with ``q*`` the known position of the same image that maximises the
    cosine similarity between ``decoder[b, :, p]`` and ``encoder[b, :, q]`` (first such
    position in raster order on ties). Known positions get 0, and so does every position of
    an image that has no hole or no known position.

    Args:
        decoder: float ``[B, C, H, W]``, the query features (decoder, damaged input).
        encoder: float ``[B, C, H, W]``, the features to copy from (mirrored encoder level).
        hole: bool ``[B, 1, H, W]`` (or ``[B, H, W]``), True where the position is missing.
        method: ``auto`` | ``dense`` | ``compact`` (module docstring); same result.

    Returns:
        ``[B, C, H, W]`` in ``encoder``'s dtype and memory layout; differentiable w.r.t.
        ``encoder`` only.
    """
    if decoder.shape != encoder.shape or decoder.dim() != 4:
        raise ValueError(
            f"decoder and encoder must be [B, C, H, W] of one shape, got "
            f"{tuple(decoder.shape)} and {tuple(encoder.shape)}"
        )
    b, c, h, w = encoder.shape
    if hole.shape[0] != b or tuple(hole.shape[-2:]) != (h, w) or hole.numel() != b * h * w:
        raise ValueError(f"hole must be [B, 1, H, W] matching the features, got {hole.shape}")
    hole_flat = hole.reshape(b, h * w).to(torch.bool)
    if resolve_shift_method(method, encoder.device) == "dense":
        out = _dense_shift(decoder, encoder, hole_flat)
    else:
        out = _compact_shift(decoder, encoder, hole_flat)
    layout = torch.channels_last if is_channels_last(encoder) else torch.contiguous_format
    return out.contiguous(memory_format=layout)


def _dense_shift(decoder: Tensor, encoder: Tensor, hole_flat: Tensor) -> Tensor:
    """The ``dense`` method: static shapes, rows ``[B, N, C]`` (a view for channels_last)."""
    b, c, h, w = encoder.shape
    n = h * w
    enc_rows = encoder.permute(0, 2, 3, 1).reshape(b, n, c)  # [B, N, C]
    known = ~hole_flat  # [B, N]
    # float32 similarities even under autocast (which would run bmm in half precision).
    with torch.no_grad(), torch.autocast(encoder.device.type, enabled=False):
        queries = decoder.detach().permute(0, 2, 3, 1).reshape(b, n, c).float()
        keys = enc_rows.detach().float()
        keys = keys * keys.square().sum(dim=2, keepdim=True).clamp_min(_EPS**2).rsqrt()
        keys_t = keys.transpose(1, 2)  # [B, C, N]
        blocked = ~known[:, None, :]  # [B, 1, N]: hole keys never win
        chunk = n
        if not _capturing_graph() and b * n * n > DENSE_CHUNK_ELEMENTS:
            chunk = max(1, DENSE_CHUNK_ELEMENTS // (b * n))
        best = [
            torch.bmm(queries[:, start : start + chunk], keys_t)
            .masked_fill(blocked, float("-inf"))
            .argmax(dim=2)
            for start in range(0, n, chunk)
        ]
        source = best[0] if len(best) == 1 else torch.cat(best, dim=1)  # [B, N]
    valid = hole_flat & known.any(dim=1, keepdim=True)  # a hole query with a known key
    pasted = enc_rows.gather(1, source[:, :, None].expand(b, n, c))  # [B, N, C]
    pasted = pasted * valid[:, :, None].to(pasted.dtype)
    return pasted.reshape(b, h, w, c).permute(0, 3, 1, 2)


def _compact_shift(decoder: Tensor, encoder: Tensor, hole_flat: Tensor) -> Tensor:
    """The ``compact`` method: hole queries × known keys only (reads counts on the host)."""
    b, c, h, w = encoder.shape
    n = h * w
    enc_flat = encoder.reshape(b, c, n)
    out = torch.zeros(b, c, n, dtype=encoder.dtype, device=encoder.device)
    n_hole = hole_flat.sum(dim=1)  # [B]
    q_max = int(n_hole.max()) if b else 0
    k_max = int((n - n_hole).max()) if b else 0
    if q_max > 0 and k_max > 0:
        # float32 similarities even under autocast (which would run bmm in half precision).
        with torch.no_grad(), torch.autocast(encoder.device.type, enabled=False):
            query_pos, source_pos, valid = _match(
                decoder.detach().reshape(b, c, n), enc_flat.detach(), hole_flat, q_max, k_max
            )
        pasted = enc_flat.gather(2, source_pos[:, None, :].expand(b, c, q_max))  # [B, C, Q]
        pasted = pasted * valid[:, None, :].to(pasted.dtype)
        # Padded queries are distinct known positions: they receive 0, their value anyway.
        out.scatter_(2, query_pos[:, None, :].expand(b, c, q_max), pasted)
    return out.reshape(b, c, h, w)


def _match(
    decoder: Tensor, encoder: Tensor, hole_flat: Tensor, q_max: int, k_max: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Nearest known encoder position for every hole query, batched over images.

    Shapes: decoder, encoder ``[B, C, N]``; hole_flat bool ``[B, N]``. Returns
    ``query_pos`` ``[B, Q]`` (hole positions in raster order, padded with known ones),
    ``source_pos`` ``[B, Q]`` (the chosen known position per query) and ``valid`` bool
    ``[B, Q]`` (a real hole query of an image that has known positions).
    """
    b, c, n = decoder.shape
    device = hole_flat.device
    n_hole = hole_flat.sum(dim=1)
    n_known = n - n_hole
    # Stable sorts keep raster order inside each group: ties go to the first position.
    as_int = hole_flat.to(torch.uint8)
    query_pos = torch.argsort(as_int, dim=1, descending=True, stable=True)[:, :q_max]
    key_pos = torch.argsort(as_int, dim=1, stable=True)[:, :k_max]
    valid = torch.arange(q_max, device=device)[None, :] < n_hole[:, None]
    valid &= (n_known > 0)[:, None]

    # Padded key slots repeat the image's first known position: argmax returns the first
    # maximum, and a repeat maps to a real known position anyway, so no -inf mask is needed.
    key_pos = torch.where(
        torch.arange(k_max, device=device)[None, :] < n_known[:, None], key_pos, key_pos[:, :1]
    )
    queries = decoder.gather(2, query_pos[:, None, :].expand(b, c, q_max)).float()  # [B,C,Q]
    keys = encoder.gather(2, key_pos[:, None, :].expand(b, c, k_max)).float()  # [B,C,K]
    # Cosine similarity up to a positive factor per query (which leaves its argmax alone):
    # q·k / max(‖k‖, eps), so only keys are normalised; zero vectors give 0, never NaN.
    keys = keys * keys.square().sum(dim=1, keepdim=True).clamp_min(_EPS**2).rsqrt()
    queries_t = queries.transpose(1, 2)  # [B, Q, C]
    chunk = max(1, SIMILARITY_CHUNK_ELEMENTS // max(1, b * k_max))
    best = [
        torch.bmm(queries_t[:, start : start + chunk], keys).argmax(dim=2)  # [B, q]
        for start in range(0, q_max, chunk)
    ]
    best_key = best[0] if len(best) == 1 else torch.cat(best, dim=1)  # [B, Q] into key_pos
    return query_pos, key_pos.gather(1, best_key), valid


class ShiftLayer(nn.Module):
    """Shift-connection: ``[decoder, encoder, shift(decoder, encoder, hole)]`` ("triple").

    Shapes: decoder, encoder ``[B, C, h, w]``, hole bool ``[B, 1, h, w]`` →
    ``[B, 3C, h, w]`` (channels_last when the inputs are). No parameters; the guidance
    loss supervises the decoder feature. ``method`` picks the implementation
    (:data:`SHIFT_METHODS`; ``auto`` by default).
    """

    def __init__(self, method: str = "auto") -> None:
        super().__init__()
        resolve_shift_method(method, torch.device("cpu"))  # refuses an unknown name now
        self.method = method

    def forward(self, decoder: Tensor, encoder: Tensor, hole: Tensor) -> Tensor:
        shifted = shift_known_to_hole(decoder, encoder, hole, self.method)
        return torch.cat([decoder, encoder, shifted], dim=1)

    def extra_repr(self) -> str:
        return f"method={self.method!r}"

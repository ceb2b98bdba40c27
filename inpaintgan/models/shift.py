"""The shift operation of Shift-Net (Yan et al. 2018) and its feature-level hole.

Each missing-region position of the decoder feature is matched (cosine similarity of 1×1
feature vectors) against every known-region position of the encoder feature of the same
image, and the best-matching encoder vector is pasted there. This is what the paper's
"shift-connection layer" re-arranges (NOTES.md, ambiguity 4).

Design, for speed and memory (issue 7):

* Only hole queries and known keys enter the similarity matmul: positions are sorted so that
  every image's holes (resp. known positions) come first, and the batch is padded to the
  largest hole (resp. known) count; padded keys are masked out. No per-image Python loop.
* Queries need no normalisation (a positive per-query factor does not change the argmax);
  keys are divided by ``max(‖e‖, eps)``, so zero vectors give similarity 0, never NaN.
* Similarities are computed in float32 under ``no_grad`` and in query chunks bounded by
  :data:`SIMILARITY_CHUNK_ELEMENTS`, so a 128×128 map stays well under 2 GB.
* The chosen vectors are gathered and scattered (no dense ``[B, HW, HW]`` one-hot paste):
  autograd carries the output's gradient to ``encoder`` at the chosen positions only, and
  nothing flows through the argmax or into ``decoder``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SIMILARITY_CHUNK_ELEMENTS", "ShiftLayer", "feature_hole", "shift_known_to_hole"]

#: Upper bound on the elements of one similarity block (float32: 16 MiB, cache-friendly).
SIMILARITY_CHUNK_ELEMENTS = 4 * 1024 * 1024

_EPS = 1e-8


def feature_hole(mask: Tensor, size: tuple[int, int], threshold: float = 0.5) -> Tensor:
    """The feature-level hole: the image mask downsampled to a feature map's size.

    Rule: a feature position is in the hole when at least ``threshold`` of the image pixels
    of its cell are missing (area average of the mask, then ``>= threshold``). With the
    default 0.5 a cell counts as missing when half or more of it is. A hole smaller than
    that at this resolution vanishes: the result is all False and the shift is a no-op.

    Args:
        mask: float ``[B, 1, H, W]``, 1 = missing pixel.
        size: ``(h, w)`` of the feature map; ``H/h`` and ``W/w`` are normally integers.
        threshold: fraction of missing pixels that makes a feature position missing.

    Returns:
        bool ``[B, 1, h, w]``, True where the feature position is missing.
    """
    coverage = F.adaptive_avg_pool2d(mask.float(), size)
    return coverage >= threshold


def shift_known_to_hole(decoder: Tensor, encoder: Tensor, hole: Tensor) -> Tensor:
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

    Returns:
        ``[B, C, H, W]`` in ``encoder``'s dtype; differentiable w.r.t. ``encoder`` only.
    """
    if decoder.shape != encoder.shape or decoder.dim() != 4:
        raise ValueError(
            f"decoder and encoder must be [B, C, H, W] of one shape, got "
            f"{tuple(decoder.shape)} and {tuple(encoder.shape)}"
        )
    b, c, h, w = encoder.shape
    n = h * w
    if hole.shape[0] != b or tuple(hole.shape[-2:]) != (h, w) or hole.numel() != b * h * w:
        raise ValueError(f"hole must be [B, 1, H, W] matching the features, got {hole.shape}")
    hole_flat = hole.reshape(b, n).to(torch.bool)
    enc_flat = encoder.reshape(b, c, n)
    out = torch.zeros_like(enc_flat, memory_format=torch.contiguous_format)
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
    ``[B, 3C, h, w]``. No parameters; the guidance loss supervises the decoder feature.
    """

    def forward(self, decoder: Tensor, encoder: Tensor, hole: Tensor) -> Tensor:
        shifted = shift_known_to_hole(decoder, encoder, hole)
        return torch.cat([decoder, encoder, shifted], dim=1)

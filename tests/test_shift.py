"""The shift operation against a brute-force per-position loop, and its feature-level hole."""

from __future__ import annotations

import pytest
import torch

import inpaintgan.models.shift as shift_module
from inpaintgan.models.shift import ShiftLayer, feature_hole, shift_known_to_hole

METHODS = ("dense", "compact")


def brute_force_shift(decoder: torch.Tensor, encoder: torch.Tensor, hole: torch.Tensor):
    """The specification, one position at a time: nearest known vector by cosine similarity."""
    b, c, h, w = encoder.shape
    dec = decoder.float().reshape(b, c, h * w)
    enc = encoder.float().reshape(b, c, h * w)
    holes = hole.reshape(b, h * w)
    out = torch.zeros(b, c, h * w, dtype=encoder.dtype)
    chosen: dict[tuple[int, int], int] = {}
    for i in range(b):
        known = [q for q in range(h * w) if not holes[i, q]]
        if not known:
            continue
        for p in range(h * w):
            if not holes[i, p]:
                continue
            d = dec[i, :, p]
            best_q, best_sim = None, None
            for q in known:
                e = enc[i, :, q]
                sim = float(d @ e) / max(float(d.norm()) * float(e.norm()), 1e-12)
                if best_sim is None or sim > best_sim:
                    best_q, best_sim = q, sim
            out[i, :, p] = encoder.reshape(b, c, h * w)[i, :, best_q]
            chosen[(i, p)] = best_q
    return out.reshape(b, c, h, w), chosen


def make_inputs(seed: int, b: int = 4, c: int = 6, h: int = 5, w: int = 7, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    decoder = torch.randn(b, c, h, w, generator=gen).to(dtype)
    encoder = torch.randn(b, c, h, w, generator=gen).to(dtype)
    hole = torch.rand(b, 1, h, w, generator=gen) < 0.35  # a different hole in every image
    return decoder, encoder, hole


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", METHODS)
def test_matches_brute_force_with_per_image_holes(seed, method):
    decoder, encoder, hole = make_inputs(seed)
    hole[1] = False  # no hole at all
    hole[2] = True  # no known position at all
    assert len({int(n) for n in hole.sum(dim=(1, 2, 3))}) > 2  # counts really differ
    expected, _ = brute_force_shift(decoder, encoder, hole)
    actual = shift_known_to_hole(decoder, encoder, hole, method=method)
    assert actual.shape == decoder.shape and actual.dtype == encoder.dtype
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    assert actual[1].abs().sum() == 0 and actual[2].abs().sum() == 0
    assert (actual * ~hole).abs().sum() == 0  # known positions are 0


@pytest.mark.parametrize("method", METHODS)
def test_hole_without_channel_dim_and_single_hole_position(method):
    decoder, encoder, _ = make_inputs(3, b=2)
    hole = torch.zeros(2, 5, 7, dtype=torch.bool)
    hole[0, 2, 3] = True
    expected, chosen = brute_force_shift(decoder, encoder, hole[:, None])
    torch.testing.assert_close(shift_known_to_hole(decoder, encoder, hole, method=method), expected)
    assert list(chosen) == [(0, 2 * 7 + 3)]


@pytest.mark.parametrize("method", METHODS)
def test_empty_and_full_holes_give_zeros(method):
    decoder, encoder, _ = make_inputs(4)
    for value in (False, True):
        hole = torch.full((4, 1, 5, 7), value)
        assert shift_known_to_hole(decoder, encoder, hole, method=method).abs().sum() == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("method", METHODS)
def test_half_precision_inputs(dtype, method):
    decoder, encoder, hole = make_inputs(5, dtype=dtype)
    expected, _ = brute_force_shift(decoder, encoder, hole)
    actual = shift_known_to_hole(decoder, encoder, hole, method=method)
    assert actual.dtype == dtype
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_float32_similarities_under_autocast(method):
    # Near-identical vectors: only float32 similarities can tell them apart.
    _, _, hole = make_inputs(11, c=64)
    gen = torch.Generator().manual_seed(12)
    base = torch.randn(4, 64, 1, 1, generator=gen)
    decoder = base + 1e-2 * torch.randn(4, 64, 5, 7, generator=gen)
    encoder = base + 1e-2 * torch.randn(4, 64, 5, 7, generator=gen)
    expected, _ = brute_force_shift(decoder, encoder, hole)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = shift_known_to_hole(decoder, encoder, hole, method=method)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_zero_vectors_give_no_nan(method):
    decoder, encoder, hole = make_inputs(6)
    hole[:, :, 0, 0] = False
    hole[:, :, 0, 1] = True
    decoder[:, :, 0, 1] = 0  # zero query: every similarity is 0 → first known position
    encoder[:, :, 0, 2:4] = 0  # zero keys: similarity 0
    hole[:, :, 0, 2:4] = False
    actual = shift_known_to_hole(decoder, encoder, hole, method=method)
    expected, _ = brute_force_shift(decoder, encoder, hole)
    assert torch.isfinite(actual).all()
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    torch.testing.assert_close(actual[:, :, 0, 1], encoder[:, :, 0, 0])
    all_zero = shift_known_to_hole(torch.zeros_like(decoder), torch.zeros_like(encoder), hole)
    assert torch.isfinite(all_zero).all() and all_zero.abs().sum() == 0


@pytest.mark.parametrize("method", METHODS)
def test_gradient_reaches_encoder_at_chosen_positions_only(method):
    decoder, encoder, hole = make_inputs(7, b=2)
    decoder.requires_grad_(True)
    encoder.requires_grad_(True)
    out = shift_known_to_hole(decoder, encoder, hole, method=method)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(8))
    (out * weights).sum().backward()
    _, chosen = brute_force_shift(decoder.detach(), encoder.detach(), hole)
    expected = torch.zeros(2, encoder.shape[1], 35)
    flat_weights = weights.reshape(2, -1, 35)
    for (i, p), q in chosen.items():
        expected[i, :, q] += flat_weights[i, :, p]
    torch.testing.assert_close(encoder.grad.reshape(2, -1, 35), expected)
    assert decoder.grad is None  # nothing flows through the argmax


def test_chunked_similarities_match_one_block(monkeypatch):
    decoder, encoder, hole = make_inputs(9, b=3, h=8, w=8)
    whole = shift_known_to_hole(decoder, encoder, hole)
    monkeypatch.setattr(shift_module, "SIMILARITY_CHUNK_ELEMENTS", 50)
    torch.testing.assert_close(shift_known_to_hole(decoder, encoder, hole), whole)


@pytest.mark.parametrize("method", METHODS)
def test_shape_mismatch_is_an_error(method):
    decoder, encoder, hole = make_inputs(10)
    with pytest.raises(ValueError, match="one shape"):
        shift_known_to_hole(decoder[:, :3], encoder, hole, method=method)
    with pytest.raises(ValueError, match="hole must be"):
        shift_known_to_hole(decoder, encoder, hole[..., :4], method=method)


def test_feature_hole_rule_half_covered_cells_count():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 0:4, 0:2] = 1  # 4x4 cell (0, 0) half missing → hole
    mask[..., 4:8, 4:5] = 1  # cell (1, 1) a quarter missing → known
    hole = feature_hole(mask, (2, 2))
    assert hole.dtype == torch.bool and hole.shape == (1, 1, 2, 2)
    assert hole.flatten().tolist() == [True, False, False, False]
    assert feature_hole(mask, (2, 2), threshold=0.25).flatten().tolist() == [
        True,
        False,
        False,
        True,
    ]


def test_hole_that_vanishes_at_feature_size_is_a_no_op():
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 10:12, 20:23] = 1  # 2x3 px: far less than half an 8x8 cell
    hole = feature_hole(mask, (8, 8))
    assert not hole.any()
    decoder, encoder = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    triple = ShiftLayer()(decoder, encoder, hole)
    assert triple.shape == (2, 12, 8, 8)
    torch.testing.assert_close(triple[:, :8], torch.cat([decoder, encoder], dim=1))
    assert triple[:, 8:].abs().sum() == 0


def test_dense_chunked_queries_match_one_block(monkeypatch):
    decoder, encoder, hole = make_inputs(9, b=3, h=8, w=8)
    whole = shift_known_to_hole(decoder, encoder, hole, method="dense")
    monkeypatch.setattr(shift_module, "DENSE_CHUNK_ELEMENTS", 3 * 64 * 5)  # 5-query chunks
    torch.testing.assert_close(shift_known_to_hole(decoder, encoder, hole, method="dense"), whole)


@pytest.mark.parametrize("method", METHODS)
def test_channels_last_stays_channels_last(method):
    decoder, encoder, hole = make_inputs(13, b=2, c=8, h=6, w=6)
    expected = shift_known_to_hole(decoder, encoder, hole, method=method)
    decoder = decoder.contiguous(memory_format=torch.channels_last)
    encoder = encoder.contiguous(memory_format=torch.channels_last)
    actual = shift_known_to_hole(decoder, encoder, hole, method=method)
    assert actual.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    triple = ShiftLayer(method)(decoder, encoder, hole)
    assert triple.is_contiguous(memory_format=torch.channels_last)


def test_auto_method_is_compact_on_cpu_eager_and_dense_when_traced(monkeypatch):
    calls = []
    monkeypatch.setattr(shift_module, "_dense_shift", lambda *a: calls.append("dense") or a[1])
    monkeypatch.setattr(shift_module, "_compact_shift", lambda *a: calls.append("compact") or a[1])
    decoder, encoder, hole = make_inputs(14, b=1)
    shift_known_to_hole(decoder, encoder, hole)
    monkeypatch.setattr(torch.jit, "is_tracing", lambda: True)
    shift_known_to_hole(decoder, encoder, hole)
    assert calls == ["compact", "dense"]
    with pytest.raises(ValueError, match="shift method"):
        ShiftLayer("sparse")


def test_feature_hole_pools_by_the_integer_factor_at_any_size():
    # The same rule at two image sizes: a fixed 4x pooling, the hole scales with the image.
    for size in (16, 32):
        mask = torch.zeros(1, 1, size, size)
        mask[..., : size // 2, : size // 2] = 1
        hole = feature_hole(mask, (size // 4, size // 4))
        assert hole.sum() == (size // 8) ** 2


@pytest.mark.parametrize("seed", [0, 1])
def test_shiftnet_style_reference_follows_the_same_rule(seed):
    # The bench's yardstick must compute the same thing, or its ratio means nothing.
    from inpaintgan.perf.reference import shiftnet_style_shift

    decoder, encoder, hole = make_inputs(seed)
    hole[1] = False
    hole[2] = True
    expected, _ = brute_force_shift(decoder, encoder, hole)
    torch.testing.assert_close(shiftnet_style_shift(decoder, encoder, hole), expected)

"""The generators compile as one graph and do not recompile for a new hole (issue 16).

CPU-only check with the ``eager`` backend: dynamo traces the whole forward
(``fullgraph=True`` fails on any graph break) and guards on what the code reads. The dense
shift reads nothing from the mask's contents, so three holes of different sizes and
positions run on the one compiled graph.
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from helpers import compose_config
from hydra.utils import instantiate

from inpaintgan.models.base import composite


def tiny_generator(model: str) -> torch.nn.Module:
    """The configured generator of ``model`` at 64², width 8."""
    overrides = [f"model={model}", "data.size=64", "model.generator.base_channels=8"]
    return instantiate(compose_config("train", overrides).model.generator).eval()


def holes(batch: int = 2, size: int = 64) -> list[torch.Tensor]:
    """Three masks with holes of different sizes, positions and counts."""
    masks = []
    for top, side in ((16, 32), (4, 12), (30, 20)):
        mask = torch.zeros(batch, 1, size, size)
        mask[:, :, top : top + side, top : top + side] = 1
        masks.append(mask)
    masks[2][1, :, 2:10, 40:60] = 1  # a second hole in one image only
    return masks


@pytest.mark.parametrize("model", ["paper", "shiftnet"])
def test_generator_compiles_fullgraph_without_recompiling_for_new_holes(model):
    torch.manual_seed(0)
    generator = tiny_generator(model)
    assert generator.shift is not None
    image = torch.rand(2, 3, 64, 64)
    torch._dynamo.reset()
    frames = []

    def counting_backend(graph_module, example_inputs):
        frames.append(graph_module)
        return graph_module.forward

    compiled = torch.compile(generator, backend=counting_backend, fullgraph=True)
    with torch.no_grad():
        for mask in holes():
            out = compiled(image, mask)
            eager = generator(image, mask)
            torch.testing.assert_close(out.image, eager.image)
            torch.testing.assert_close(
                composite(out.image, image, mask), composite(eager.image, image, mask)
            )
            assert out.guidance_hole is not None and out.guidance_hole.any()
    assert len(frames) == 1, f"{len(frames)} graphs compiled for three holes (want 1)"
    torch._dynamo.reset()


def test_compiled_training_step_backward_without_recompiling():
    # The training path (grad enabled, aot_eager: forward + backward graphs) on two holes.
    torch.manual_seed(1)
    generator = tiny_generator("paper").train()
    torch._dynamo.reset()
    compiled = torch.compile(generator, backend="aot_eager", fullgraph=True)
    image = torch.rand(2, 3, 64, 64)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for mask in holes()[:2]:
            out = compiled(image, mask)
            out.image.mean().backward()
    assert all(p.grad is not None for p in generator.parameters() if p.requires_grad)
    torch._dynamo.reset()

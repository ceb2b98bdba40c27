"""Networks: generators (U-Net with SE + shift, Context Encoder), discriminators, VGG16.

See ``docs/model.md`` for the architectures, their parameter counts and FLOPs.
"""

from inpaintgan.models.base import GeneratorOutput, complexity, count_parameters, init_weights
from inpaintgan.models.context_encoder import ContextEncoder
from inpaintgan.models.discriminators import DCGANDiscriminator, PatchGANDiscriminator
from inpaintgan.models.se_block import ImprovedSEBlock
from inpaintgan.models.shift import ShiftLayer, feature_hole, shift_known_to_hole
from inpaintgan.models.unet import UNetGenerator
from inpaintgan.models.vgg import VGG16Features

__all__ = [
    "ContextEncoder",
    "DCGANDiscriminator",
    "GeneratorOutput",
    "ImprovedSEBlock",
    "PatchGANDiscriminator",
    "ShiftLayer",
    "UNetGenerator",
    "VGG16Features",
    "complexity",
    "count_parameters",
    "feature_hole",
    "init_weights",
    "shift_known_to_hole",
]

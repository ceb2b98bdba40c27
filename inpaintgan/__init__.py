"""inpaintgan: GAN image inpainting with an improved SE block and a shift-connection U-Net."""

__version__ = "0.1.0"

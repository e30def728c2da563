"""Shipped training configs (YAML): the paper's two stages, the SRResNet variant, the SRGAN baseline and the
columns of the paper's ablation (each a few lines on top of `esrgan_x4_gan`), and small CPU demos."""

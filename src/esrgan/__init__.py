"""ESRGAN: Enhanced Super-Resolution GAN, inference, evaluation and training."""

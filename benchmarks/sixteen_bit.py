"""How many bits of a 16-bit image each precision keeps, with the real realesrgan-x4plus weights.

bf16 carries an 8-bit mantissa: every value between 2^k and 2^(k+1) is one of 256 steps, so a network run
in bf16 posterises a smooth 16-bit gradient. This measures it on two 16-bit inputs — a ramp spanning 2000
levels (the case first reported: 11 flat steps) and Set5's `baby` made 16-bit by a float downscale, so it has
real in-between levels — against the fp32 output as reference:

- distinct output values per channel (more is smoother), and
- effective bits: −log2(√12 · RMS error / 65535), the bit depth whose quantisation noise equals the error.

    python benchmarks/sixteen_bit.py [--set5 ../shared/datasets/Set5]

The torch backend runs both precisions (OpenVINO only runs bf16 on CPUs with native bf16).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from esrgan.api import build_generator, load_weights
from esrgan.imaging.io import read_image
from esrgan.inference.upscaler import Upscaler
from esrgan.options import UpscaleOptions

PRECISIONS = ("fp32", "bf16")


def ramp(side: int = 48) -> np.ndarray:
    """A smooth 16-bit gradient across 2000 levels, grey in RGB."""
    values = np.linspace(39_500, 41_500, side)[None, :, None] + np.linspace(0, 40, side)[:, None, None]
    return np.repeat(values, 3, axis=2).round().astype(np.uint16)


def photo(set5: Path, side: int = 48) -> np.ndarray:
    """Set5 `baby`, downscaled in float (area) to `side` pixels and stored in 16 bits: real in-between levels."""
    image = read_image(set5 / "baby.png").astype(np.float32) * 257.0
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return small.round().clip(0, 65535).astype(np.uint16)


def effective_bits(output: np.ndarray, reference: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean((output.astype(np.float64) - reference.astype(np.float64)) ** 2)))
    return math.inf if rms == 0 else -math.log2(math.sqrt(12) * rms / 65535)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set5", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets/Set5")
    args = parser.parse_args()
    spec, state = load_weights("realesrgan-x4plus")
    inputs = {"ramp (2000 levels)": ramp()}
    if (args.set5 / "baby.png").is_file():
        inputs["Set5 baby, 16-bit"] = photo(args.set5)
    print(f"{'input':<22} {'precision':<9} {'distinct values (R)':>20} {'effective bits':>15}")
    for label, image in inputs.items():
        outputs = {}
        for precision in PRECISIONS:
            upscaler = Upscaler(build_generator(spec, state), spec,
                                UpscaleOptions(tile=0, precision=precision, device="cpu", backend="torch"))
            outputs[precision] = upscaler.upscale_array(image)
        for precision, output in outputs.items():
            distinct = len(np.unique(output[..., 0]))
            bits = effective_bits(output, outputs["fp32"])
            print(f"{label:<22} {precision:<9} {distinct:>20} {'reference' if math.isinf(bits) else f'{bits:.1f}':>15}")


if __name__ == "__main__":
    main()

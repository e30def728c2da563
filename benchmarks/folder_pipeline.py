"""How much of the decoding and encoding `esrgan upscale` hides behind the network, for a folder of images.

    python benchmarks/folder_pipeline.py                   # 6 LR photos of 320×240 → 1280×960 PNG
    python benchmarks/folder_pipeline.py --ext jpg --images 8

One process, one loaded model (the default: realesrgan-x4plus, `--precision auto`, `--backend auto`), the
same images twice over, alternating: (1) one after the other, decode → network → encode, as a plain loop
does, with each part timed; (2) `esrgan upscale`'s own loop (`esrgan.jobs.images.upscale_images`), which
decodes the next image and encodes the last one on background threads while the network runs. "hidden" is
the share of the decode + encode time that (2) saves over (1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference import lr_image

from esrgan.api import load_model
from esrgan.imaging.io import read_image, write_image
from esrgan.inference.upscaler import Upscaler
from esrgan.interrupts import StopRequest
from esrgan.jobs.images import upscale_images
from esrgan.jobs.plan import Job, JobSettings
from esrgan.jobs.report import Report


def one_by_one(upscaler: Upscaler, jobs: list[tuple[Path, Path]]) -> tuple[float, float, float]:
    """Seconds spent decoding, in the network and encoding, for a plain sequential loop."""
    decode = network = encode = 0.0
    for source, target in jobs:
        start = time.perf_counter()
        image = read_image(source)
        decoded = time.perf_counter()
        result = upscaler.upscale(image)
        computed = time.perf_counter()
        write_image(target, result, overwrite=True)
        decode, network = decode + decoded - start, network + computed - decoded
        encode += time.perf_counter() - computed
    return decode, network, encode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6, help="images in the folder")
    parser.add_argument("--size", default="240x320", help="LR height x width")
    parser.add_argument("--ext", default="png", help="output format (png, jpg, webp)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (1) and (2)")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    upscaler = load_model(progress=False)
    with tempfile.TemporaryDirectory() as temp:
        folder, plain, piped = Path(temp) / "in", Path(temp) / "plain", Path(temp) / "piped"
        for path in (folder, plain, piped):
            path.mkdir()
        sources = []
        for index in range(args.images):
            sources.append(folder / f"{index:02d}.png")
            write_image(sources[-1], lr_image(height, width, seed=index))
        upscaler.upscale(read_image(sources[0]))  # warm-up: builds the network for this shape
        settings = JobSettings(overwrite=True, quiet=True)
        plain_jobs = [(s, plain / f"{s.stem}.{args.ext}") for s in sources]
        piped_jobs = [Job(s, piped / f"{s.stem}.{args.ext}") for s in sources]
        parts, walls_plain, walls_piped = [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            parts.append(one_by_one(upscaler, plain_jobs))
            walls_plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            report = Report()
            upscale_images(upscaler, piped_jobs, settings, StopRequest("never"), report)
            assert report.count("done") == len(piped_jobs)
            walls_piped.append(time.perf_counter() - start)
    decode, network, encode = (statistics.median(p[i] for p in parts) for i in range(3))
    plain_s, piped_s = statistics.median(walls_plain), statistics.median(walls_piped)
    print(f"{args.images} images {width}×{height} → ×{upscaler.scale} {args.ext}, backend {upscaler.backend.name}, "
          f"medians of {args.repeats}")
    print(f"one by one:  {plain_s:6.2f} s  (decode {decode:.2f} s, network {network:.2f} s, encode {encode:.2f} s)")
    print(f"esrgan upscale's loop: {piped_s:6.2f} s  ({plain_s / piped_s:.2f}× faster; hidden "
          f"{100 * (plain_s - piped_s) / max(decode + encode, 1e-9):.0f}% of decode + encode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Frames per second of `upscale_video`, and how much of its time is spent outside the network.

    python benchmarks/video.py                                   # 48 frames of 320×180 → 1280×720 H.264
    python benchmarks/video.py --frames 12 --models realesr-animevideov3

A synthetic clip (a moving pattern with a sine tone, 24 fps, H.264) is made at run time. For each model,
loaded with the default options (`--precision auto`, `--backend auto`, the default device), one warm-up
frame, then one whole job: decode, colour conversion, network, encode into segments, stream-copy join.
"network" is the time spent inside `Upscaler.upscale_array`; "outside" is the rest of the wall time, the
work the job does not hide behind the network (encoding runs on a background thread). The same decode and
encode work is also timed on its own, one frame after another, to show what the overlap hides.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from esrgan.api import load_model
from esrgan.inference.upscaler import Upscaler
from esrgan.video.encoding import encode_settings
from esrgan.video.frames import Frame, decoded_frames
from esrgan.video.job import upscale_video
from esrgan.video.options import VideoOptions
from esrgan.video.probe import probe
from esrgan.video.writer import _SegmentFile


def make_clip(path: Path, frames: int, width: int, height: int, fps: int = 24) -> Path:
    """A gradient with a moving bright square and a moving bar, plus a 440 Hz tone."""
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=fps, options={"crf": "18"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = output.add_stream("aac", rate=48_000, layout="mono")
        for index in range(frames):
            image = np.stack([(x + 3 * index) % 256, (y * 255 // height), np.full_like(x, 90)], -1).astype(np.uint8)
            cv2.rectangle(image, (4 * index % width, height // 3), (4 * index % width + 24, height // 3 + 24),
                          (250, 240, 40), -1)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        samples = 48_000 * frames // fps
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48_000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48_000, start
            output.mux(sound.encode(chunk))
        output.mux(sound.encode(None))
    return path


def timed_network(upscaler: Upscaler) -> list[float]:
    """Wrap `upscaler.upscale_array` so that each call's seconds are appended to the returned list."""
    seconds: list[float] = []
    network = upscaler.upscale_array

    def timed(*args: object, **kwargs: object) -> np.ndarray:
        start = time.perf_counter()
        result = network(*args, **kwargs)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - start)
        return result

    upscaler.upscale_array = timed  # type: ignore[method-assign]
    return seconds


def decode_and_encode_alone(source: Path, target: Path, scale: int) -> tuple[float, float]:
    """Seconds to decode + convert every frame, and to convert + encode every ×`scale` frame (a Lanczos resize
    stands in for the network), one after the other on this thread."""
    info = probe(source, 10**9)
    start = time.perf_counter()
    frames = [f for f in decoded_frames(info) if isinstance(f, Frame)]
    decoded = time.perf_counter()
    settings = encode_settings(target, VideoOptions(), info).sized(info.width * scale, info.height * scale, info)
    big = [cv2.resize(f.image, (info.width * scale, info.height * scale), interpolation=cv2.INTER_LANCZOS4)
           for f in frames]
    encode_start = time.perf_counter()
    segment = _SegmentFile(target, settings, 0)
    for frame, image in zip(frames, big, strict=True):
        segment.write(image, frame.pts, frame.duration)
    segment.close()
    return decoded - start, time.perf_counter() - encode_start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48, help="frames in the clip")
    parser.add_argument("--size", default="320x180", help="LR width x height")
    parser.add_argument("--models", nargs="+", default=["realesrgan-x4plus", "realesr-animevideov3"])
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as temp:
        source = make_clip(Path(temp) / "clip.mp4", args.frames, width, height)
        decode_s, encode_s = decode_and_encode_alone(source, Path(temp) / "alone.mp4", 4)
        print(f"{args.frames} frames {width}×{height} → ×4 H.264 crf 18 yuv420p (.mp4)")
        print(f"alone, one after the other: decode + to RGB {1000 * decode_s / args.frames:.1f} ms/frame, "
              f"to YUV + encode {1000 * encode_s / args.frames:.1f} ms/frame")
        for name in args.models:
            upscaler = load_model(name, progress=False)
            first = next(f for f in decoded_frames(probe(source, 10**9)) if isinstance(f, Frame))
            upscaler.upscale_array(first.image)  # warm-up: builds the network for this shape
            network = timed_network(upscaler)
            start = time.perf_counter()
            result = upscale_video(upscaler, source, Path(temp) / f"{name}.mp4", progress=False)
            wall = time.perf_counter() - start
            inside = sum(network)
            print(f"{name:24s} backend {upscaler.backend.name}, {upscaler.dtype}: {result.frames} frames in "
                  f"{wall:.2f} s = {result.frames / wall:.2f} frames/s; network {inside:.2f} s, outside "
                  f"{wall - inside:.2f} s = {100 * (wall - inside) / wall:.1f}% of the wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`esrgan upscale` with videos among its inputs: a video in, a video out with the same frames' timing and
audio; folders mixing images and videos; bad videos reported in one line while the rest is done."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.api import load_model
from esrgan.cli.main import main
from esrgan.imaging.io import read_image
from esrgan.options import UpscaleOptions
from tests.video.clips import make_clip, read_clip

pytestmark = pytest.mark.usefixtures("one_thread")


def upscale(*args: str | Path) -> int:
    return main(["upscale", "--quiet", "--precision", "fp32", "--backend", "torch", "--tile", "0",
                 *map(str, args)])


def test_a_video_in_gives_the_same_frames_timing_and_audio_out(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = make_clip(tmp_path / "clip.mkv", frames=8)
    target = tmp_path / "clip_x4.mkv"
    assert upscale(source, "-o", target, "--weights", tiny_checkpoint, "--codec", "ffv1") == 0
    before, after = read_clip(source), read_clip(target)
    assert after.size == (before.size[0] * 4, before.size[1] * 4)
    assert after.times == before.times and after.packets["audio"] == before.packets["audio"]
    network = load_model(tiny_checkpoint, options=UpscaleOptions(tile=0, precision="fp32", backend="torch"))
    for decoded, written in zip(before.frames, after.frames, strict=True):
        assert np.array_equal(network.upscale_array(decoded), written)


def test_a_folder_mixing_images_and_videos(tmp_path: Path, tiny_checkpoint: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    make_clip(inputs / "clip.mov", frames=4, audio=False)
    make_clip(inputs / "old.avi", frames=3, audio=False, codec="mpeg4", fmt="avi")
    Image.new("RGB", (12, 10), (200, 30, 30)).save(inputs / "photo.png")
    out = tmp_path / "out"
    assert upscale(inputs, "-o", out, "--weights", tiny_checkpoint, "--suffix", "_x4") == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip_x4.mov", "old_x4.mkv", "photo_x4.png"]
    assert read_image(out / "photo_x4.png").shape == (40, 48, 3)
    assert len(read_clip(out / "clip_x4.mov").frames) == 4 and len(read_clip(out / "old_x4.mkv").frames) == 3


def test_outscale_reaches_the_frames(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", frames=3, audio=False)
    assert upscale(source, "-o", tmp_path / "x2.mp4", "--weights", tiny_checkpoint, "--outscale", "2") == 0
    assert read_clip(tmp_path / "x2.mp4").size == (64, 48)


def test_bad_videos_are_one_line_each_and_the_rest_is_done(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "notes.mp4").write_text("a shopping list, not a video\n")
    make_clip(inputs / "good.mp4", frames=3, audio=False)
    Image.new("RGB", (12, 10), (0, 90, 200)).save(inputs / "photo.png")
    out = tmp_path / "out"
    assert upscale(inputs, "-o", out, "--weights", tiny_checkpoint) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("esrgan:")]
    assert any("notes.mp4" in line for line in errors) and "Traceback" not in "\n".join(errors)
    assert errors[-1] == "esrgan: 2 done, 1 of 3 inputs failed"
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4", "photo.png"]


@pytest.mark.parametrize(
    ("inputs", "output", "message"),
    [(["clip.mp4"], "big.png", "the input is a video, but this names an image file"),
     (["photo.png"], "big.mp4", "the input is an image, but this names a video file"),
     (["clip.mp4"], "big.avi", "videos are written as .mp4, .m4v, .mov, .mkv, .webm, not .avi"),
     (["clip.mp4", "photo.png"], "big.mp4", "names a video file, but there are 2 inputs"),
     (["clip.mp4"], "big.mp4 --crf 99 --codec h264", "--crf for h264 lies in [0, 51]"),
     (["clip.mp4"], "big.mkv --crf 10 --codec ffv1", "ffv1 is lossless and has no quality setting")],
)
def test_impossible_video_outputs_are_refused_before_any_work(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str], inputs: list[str], output: str,
    message: str,
) -> None:
    make_clip(tmp_path / "clip.mp4", frames=2, audio=False)
    Image.new("RGB", (12, 10)).save(tmp_path / "photo.png")
    target, *options = output.split()
    assert upscale(*(tmp_path / name for name in inputs), "-o", tmp_path / target, *options,
                   "--weights", tiny_checkpoint) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"clip.mp4", "photo.png", "tiny.safetensors"})

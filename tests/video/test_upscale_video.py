"""`upscale_video` end to end on clips made at test time, with a tiny random network.

Each test states what the output keeps of its input: frame count and timestamps (variable ones too), the
audio and subtitle packets byte for byte, rotation, colour tags and container metadata; with the lossless
codec, every frame is exactly the network's output for the decoded input frame.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from esrgan.errors import ConfigError, VideoError
from esrgan.inference.upscaler import Upscaler
from esrgan.video.frames import Frame, SkippedFrame, upscaled_frames
from esrgan.video.job import upscale_video
from tests.video.clips import make_clip, read_clip, tiny_upscaler
from tests.video.test_hostile import corrupt_frame

pytestmark = pytest.mark.usefixtures("one_thread")

VARIABLE = [Fraction(ms, 1000) for ms in (0, 40, 80, 200, 230, 260, 400, 440, 480, 520)]
"""Frame times with gaps and bursts: a variable-frame-rate clip."""


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return tiny_upscaler()


def assert_same_timing(source: Path, output: Path) -> None:
    """Same frames at the same times, the same duration to within one frame, other streams copied as they were."""
    before, after = read_clip(source), read_clip(output)
    assert len(after.frames) == len(before.frames)
    assert after.times == before.times
    assert after.duration == pytest.approx(before.duration, abs=1 / 24)
    assert after.packets == before.packets
    assert after.metadata.get("title") == before.metadata["title"]


def test_mp4_keeps_timing_audio_subtitles_rotation_pixel_shape(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "clip.mp4", subtitles=True, rotation=90, pixel_aspect=Fraction(4, 3))
    result = upscale_video(upscaler, source, tmp_path / "clip_x4.mp4", progress=False, segment_frames=5)
    assert (result.frames, result.segments, result.skipped, result.stopped) == (12, 3, [], False)
    assert_same_timing(source, tmp_path / "clip_x4.mp4")
    output = read_clip(tmp_path / "clip_x4.mp4")
    assert (output.size, output.codec, output.pix_fmt, output.rotation) == ((128, 96), "h264", "yuv420p", 90)
    assert output.pixel_aspect == Fraction(4, 3)
    assert set(output.packets) == {"audio", "subtitle"}
    assert not result.work_folder.exists()


def test_variable_frame_rate_is_kept(tmp_path: Path, upscaler: Upscaler) -> None:
    for name in ("vfr.mkv", "vfr.mp4"):
        source = make_clip(tmp_path / name, frames=len(VARIABLE), times=VARIABLE, subtitles=name.endswith(".mkv"))
        upscale_video(upscaler, source, tmp_path / f"up_{name}", progress=False, segment_frames=4)
        assert_same_timing(source, tmp_path / f"up_{name}")
        assert read_clip(tmp_path / f"up_{name}").times == VARIABLE


def test_lossless_frames_equal_the_network_output(tmp_path: Path, upscaler: Upscaler) -> None:
    """Odd sizes need no padding in RGB; each output frame is `upscale_array` of the decoded input frame."""
    source = make_clip(tmp_path / "odd.mkv", width=33, height=25, codec="ffv1", pix_fmt="bgr0")
    upscale_video(upscaler, source, tmp_path / "odd_x4.mkv", codec="ffv1", progress=False, segment_frames=5)
    before, after = read_clip(source), read_clip(tmp_path / "odd_x4.mkv")
    assert (after.size, after.codec, after.pix_fmt) == ((132, 100), "ffv1", "bgr0")
    assert len(after.frames) == len(before.frames) == 12
    for original, upscaled in zip(before.frames, after.frames, strict=True):
        np.testing.assert_array_equal(upscaled, upscaler.upscale_array(original))
    assert after.packets == before.packets


def test_the_frame_iterator_yields_the_network_output(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "rgb.mkv", codec="ffv1", pix_fmt="bgr0", frames=6, audio=False)
    frames = list(upscaled_frames(upscaler, source, outscale=2))
    assert [f.index for f in frames] == list(range(6))
    original = read_clip(source)
    assert [frame.time for frame in frames] == original.times
    for frame, image in zip(frames, original.frames, strict=True):
        assert isinstance(frame, Frame)
        np.testing.assert_array_equal(frame.image, upscaler.upscale_array(image, outscale=2))


def test_frames_batched_several_per_call_equal_one_at_a_time_around_a_lost_frame(
    tmp_path: Path, upscaler: Upscaler
) -> None:
    """`--batch 4`: frames go through the network four at a time, a lost frame passes through in its place."""
    source = corrupt_frame(tmp_path)
    batched = Upscaler(upscaler.model, upscaler.spec, dataclasses.replace(upscaler.options, batch=4))
    calls: list[int] = []
    batch = batched.upscale_batch
    batched.upscale_batch = lambda images, *a: calls.append(len(images)) or batch(images, *a)  # type: ignore[method-assign]
    frames = list(upscaled_frames(batched, source))
    assert [f.index for f in frames] == list(range(12)) and isinstance(frames[5], SkippedFrame)
    assert calls == [4, 4, 2]  # 0-3 | 4 alone (through upscale_array), as 5 is lost | 6-9 | 10-11
    for frame, alone in zip(frames, upscaled_frames(upscaler, source), strict=True):
        assert type(frame) is type(alone)
        if isinstance(frame, Frame) and isinstance(alone, Frame):  # PyTorch's batched float sums may differ
            difference = np.abs(frame.image.astype(int) - alone.image.astype(int))  # by 1e-7: a level, rarely
            assert difference.max() <= 1 and np.count_nonzero(difference) < 10


def test_odd_output_sizes_are_padded_for_subsampled_chroma(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "odd.mkv", width=33, height=25, codec="ffv1", pix_fmt="bgr0", frames=6)
    result = upscale_video(upscaler, source, tmp_path / "odd_x1.mp4", outscale=1, progress=False)
    output = read_clip(tmp_path / "odd_x1.mp4")
    assert (output.size, output.pix_fmt, len(output.frames)) == ((34, 26), "yuv420p", 6)
    assert any("padded to 34x26" in note for note in result.notes)


def test_colour_tags_are_kept_and_untagged_colour_is_tagged(tmp_path: Path, upscaler: Upscaler) -> None:
    """A tagged BT.709 source stays BT.709; an untagged small one (BT.601 to a player) is tagged BT.601, which a
    player would no longer assume at four times the size."""
    tagged = make_clip(tmp_path / "709.mp4", bt709=True, frames=4, audio=False)
    untagged = make_clip(tmp_path / "601.mp4", frames=4, audio=False)
    upscale_video(upscaler, tagged, tmp_path / "709_x4.mp4", progress=False)
    upscale_video(upscaler, untagged, tmp_path / "601_x4.mp4", progress=False)
    assert read_clip(tmp_path / "709_x4.mp4").colour == (1, 1, 1, 1)
    assert read_clip(tmp_path / "601_x4.mp4").colour[:2] == (6, 1)


class Nearest:
    """Stands in for an `Upscaler` (the job uses only these members): each pixel repeated, colours untouched."""

    scale = 4

    def upscale_array(self, image: np.ndarray, outscale: float | None = None, on_tile: object = None,
                      back_projection: int = 0) -> np.ndarray:
        return np.repeat(np.repeat(image, self.scale, axis=0), self.scale, axis=1)

    def images_per_call(self, height: int, width: int, pixels: np.dtype) -> int:
        return 1

    def fingerprint(self) -> str:
        return "nearest"


@pytest.mark.parametrize("bt709", [True, False])
def test_colours_look_the_same_after_the_round_trip(tmp_path: Path, bt709: bool) -> None:
    """Decoded as a player would (by the tags, or by the size when there are none), the output shows the
    input's colours: YUV -> RGB and back used the same matrix and range."""
    source = make_clip(tmp_path / "clip.mp4", width=64, height=48, bt709=bt709, frames=3, audio=False)
    upscale_video(Nearest(), source, tmp_path / "clip_x4.mp4", progress=False)  # type: ignore[arg-type]
    before, after = read_clip(source), read_clip(tmp_path / "clip_x4.mp4")
    for original, upscaled in zip(before.frames, after.frames, strict=True):
        error = upscaled.astype(int) - Nearest().upscale_array(original).astype(int)
        assert np.abs(error).mean() < 1.5 and abs(error.mean()) < 0.3  # H.264's loss only, and no drift


@pytest.mark.parametrize(("target", "options", "message"), [
    ("out.mov", {"codec": "ffv1"}, r"ffv1 cannot be written in \.mov"),
    ("out.webm", {}, r"audio stream 1 \(aac\) cannot be copied into \.webm.*\.mkv"),
    ("out.mp4", {"pix_fmt": "rgb24"}, "--pix-fmt rgb24: h264 encodes yuv420p"),
    ("out.avi", {}, "videos are written as"),
])
def test_impossible_outputs_are_refused_before_any_work(
    tmp_path: Path, upscaler: Upscaler, target: str, options: dict[str, str], message: str
) -> None:
    source = make_clip(tmp_path / "clip.mp4", frames=2)
    with pytest.raises((VideoError, ConfigError), match=message):
        upscale_video(upscaler, source, tmp_path / target, progress=False, **options)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "clip.mp4", frames=2)
    (tmp_path / "out.mp4").write_bytes(b"precious")
    with pytest.raises(VideoError, match="exists; pass --overwrite"):
        upscale_video(upscaler, source, tmp_path / "out.mp4", progress=False)
    assert (tmp_path / "out.mp4").read_bytes() == b"precious"
    upscale_video(upscaler, source, tmp_path / "out.mp4", overwrite=True, progress=False)
    assert len(read_clip(tmp_path / "out.mp4").frames) == 2

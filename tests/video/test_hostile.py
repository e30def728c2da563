"""Hostile video inputs through `run_video_job`, the entry `esrgan upscale` calls once per video: each bad
file gives one clear line naming it, the other inputs are still done, and no bad input leaves a file under
its output name (the command exits non-zero when any line was returned)."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest

from esrgan.inference.upscaler import Upscaler
from esrgan.interrupts import StopRequest
from esrgan.video.command import run_video_job
from esrgan.video.options import VideoOptions
from tests.video.clips import make_clip, read_clip, tiny_upscaler

pytestmark = pytest.mark.usefixtures("one_thread")


def text_named_mp4(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("this is a shopping list, not a video\n")
    return path


def truncated_mp4(folder: Path) -> Path:
    """Cut in half: the index (moov) that PyAV writes last is gone."""
    data = make_clip(folder / "whole.mp4", frames=24).read_bytes()
    (folder / "whole.mp4").unlink()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    return folder / "cut.mp4"


def truncated_mkv(folder: Path) -> Path:
    """Cut at two thirds: readable, but the picture stops before the duration its header declares."""
    data = make_clip(folder / "whole.mkv", frames=24).read_bytes()
    (folder / "whole.mkv").unlink()
    (folder / "cut.mkv").write_bytes(data[: len(data) * 2 // 3])
    return folder / "cut.mkv"


def audio_only(folder: Path) -> Path:
    with av.open(str(folder / "song.mp4"), "w") as output:
        stream = output.add_stream("aac", rate=48_000, layout="mono")
        for start in range(0, 24_000, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48_000, start
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return folder / "song.mp4"


def absurd_resolution(folder: Path) -> Path:
    """A real 320x256 Motion-JPEG clip whose Matroska header and JPEG frame header are both edited to declare
    65535x65535 (4.3 G pixels a frame)."""
    data = make_clip(folder / "big.mkv", width=320, height=256, frames=1, audio=False, codec="mjpeg",
                     pix_fmt="yuvj420p").read_bytes()
    edits = {b"\xb0\x82\x01\x40": b"\xb0\x82\xff\xff", b"\xba\x82\x01\x00": b"\xba\x82\xff\xff",  # EBML sizes
             b"\xff\xc0\x00\x11\x08\x01\x00\x01\x40": b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff"}  # JPEG SOF0
    for old, new in edits.items():
        assert data.count(old) == 1
        data = data.replace(old, new)
    (folder / "big.mkv").write_bytes(data)
    return folder / "big.mkv"


def corrupt_frame(folder: Path) -> Path:
    """Frame 5 of a lossless clip overwritten in the middle of its packet."""
    path = make_clip(folder / "damaged.mkv", codec="ffv1", pix_fmt="bgr0", frames=12, audio=False)
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(path.read_bytes())
    position, size = packets[5]
    data[position + size // 2: position + size // 2 + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return tiny_upscaler()


def run(upscaler: Upscaler, source: Path, **options: object) -> tuple[list[str], bool]:
    with StopRequest("after the current frame") as stop:
        return run_video_job(upscaler, source, source.with_name(f"{source.stem}_x4.mkv"),
                             VideoOptions(**options), stop, quiet=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("make", "message"), [
    (text_named_mp4, r"notes\.mp4: not a readable video file \(Invalid data found"),
    (truncated_mp4, r"cut\.mp4: not a readable video file"),
    (audio_only, r"song\.mp4: has no video stream \(it holds audio\)"),
    (absurd_resolution, r"big\.mkv: the video stream has no usable frame size \(its header is absurd"),
])
def test_unusable_input_is_one_line_and_no_output(
    tmp_path: Path, upscaler: Upscaler, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    failures, stopped = run(upscaler, source)
    assert len(failures) == 1 and not stopped
    assert re.search(message, failures[0]), failures[0]
    assert capsys.readouterr().err.strip().splitlines() == [f"esrgan: skipped: {failures[0]}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_frames_over_the_pixel_limit_are_refused(tmp_path: Path, upscaler: Upscaler) -> None:
    """Sizes FFmpeg accepts meet the same limit as images (`--max-pixels`), before anything is decoded."""
    source = make_clip(tmp_path / "wide.mp4", width=64, height=48, frames=2)
    failures, _ = run(upscaler, source, max_pixels=3000)
    assert failures == [f"{source}: 64x48 frames (3,072 pixels) are over the limit of 3,000 pixels; pass "
                        f"--max-pixels to allow them"]


def test_a_frame_that_fails_to_decode_is_reported_and_left_out(
    tmp_path: Path, upscaler: Upscaler, capsys: pytest.CaptureFixture[str]
) -> None:
    source = corrupt_frame(tmp_path)
    failures, _ = run(upscaler, source, codec="ffv1")
    assert len(failures) == 1 and "frame 5 at 0.208 s: cannot be decoded" in failures[0]
    errors = capsys.readouterr().err
    assert "skipped frame 5 at 0.208 s" in errors and "written without 1 frames" in errors and "(numbers 5)" in errors
    milliseconds = [round(time * 1000) for time in read_clip(tmp_path / "damaged_x4.mkv").times]
    assert milliseconds == [0, 42, 83, 125, 167, 250, 292, 333, 375, 417, 458]  # 208, frame 5's time, is missing


def test_a_truncated_readable_file_is_written_and_reported(tmp_path: Path, upscaler: Upscaler) -> None:
    source = truncated_mkv(tmp_path)
    failures, _ = run(upscaler, source)
    assert len(failures) == 1 and "cut.mkv: the video ends at" in failures[0] and "truncated" in failures[0]
    assert 0 < len(read_clip(tmp_path / "cut_x4.mkv").frames) < 24


def test_bad_inputs_do_not_stop_the_good_ones(tmp_path: Path, upscaler: Upscaler) -> None:
    """As the command's loop runs them: every input is tried, and the lines tell which failed."""
    sources = [text_named_mp4(tmp_path), make_clip(tmp_path / "good.mp4", frames=4), audio_only(tmp_path)]
    failures = [line for source in sources for line in run(upscaler, source)[0]]
    assert len(failures) == 2
    assert len(read_clip(tmp_path / "good_x4.mkv").frames) == 4

"""Stopping and resuming: a stop request ends the run at a frame boundary with nothing under the output name,
and `resume` then gives exactly the video one uninterrupted run gives (the lossless codec makes "exactly"
checkable frame by frame)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from esrgan.errors import VideoError
from esrgan.inference.upscaler import Upscaler
from esrgan.interrupts import StopRequest
from esrgan.video.job import upscale_video
from esrgan.video.segments import MANIFEST, WorkFolder
from tests.conftest import REPO_ROOT, TINY, tiny_rrdbnet
from tests.video.clips import make_clip, read_clip, tiny_upscaler

pytestmark = pytest.mark.usefixtures("one_thread")

LOSSLESS = {"codec": "ffv1", "segment_frames": 4, "progress": False}


@pytest.fixture(scope="module")
def upscaler() -> Upscaler:
    return tiny_upscaler()


def assert_same_video(a: Path, b: Path) -> None:
    first, second = read_clip(a), read_clip(b)
    assert first.times == second.times and first.packets == second.packets
    assert len(first.frames) == len(second.frames)
    for x, y in zip(first.frames, second.frames, strict=True):
        np.testing.assert_array_equal(x, y)


def stop_after(frames: int) -> tuple[StopRequest, object]:
    """A stop request that is made, as by Ctrl-C, once `frames` frames are done."""
    stop = StopRequest("after this frame")

    def on_frame(done: int, _total: int | None) -> None:
        if done >= frames:
            stop.requested = True

    return stop, on_frame


def test_stop_then_resume_equals_one_run(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "clip.mkv", frames=14, subtitles=True)
    upscale_video(upscaler, source, tmp_path / "whole.mkv", **LOSSLESS)  # type: ignore[arg-type]

    target = tmp_path / "parts.mkv"
    stop, on_frame = stop_after(6)
    result = upscale_video(upscaler, source, target, stop=stop, on_frame=on_frame, **LOSSLESS)  # type: ignore[arg-type]
    assert result.stopped and result.frames == 6 and not target.exists()
    manifest = json.loads((result.work_folder / MANIFEST).read_text())
    assert [s["frames"] for s in manifest["segments"]] == [4, 2] and manifest["next_index"] == 6
    for segment in manifest["segments"]:  # each finished segment is a playable video of its own
        assert len(read_clip(result.work_folder / segment["file"]).frames) == segment["frames"]

    with pytest.raises(VideoError, match="pass --resume to continue it or --overwrite"):
        upscale_video(upscaler, source, target, **LOSSLESS)  # type: ignore[arg-type]
    resumed = upscale_video(upscaler, source, target, resume=True, **LOSSLESS)  # type: ignore[arg-type]
    assert (resumed.frames, resumed.segments, resumed.stopped) == (14, 4, False)
    assert_same_video(tmp_path / "whole.mkv", target)
    assert not resumed.work_folder.exists()


def test_resume_discards_a_segment_a_hard_kill_interrupted(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "clip.mp4", frames=10, audio=False)
    target = tmp_path / "out.mkv"
    stop, on_frame = stop_after(4)
    upscale_video(upscaler, source, target, stop=stop, on_frame=on_frame, **LOSSLESS)  # type: ignore[arg-type]
    work = WorkFolder(target)
    work.segment(1)[0].write_bytes(b"half an ffv1 segment")  # what kill -9 during segment 1 leaves
    upscale_video(upscaler, source, target, resume=True, **LOSSLESS)  # type: ignore[arg-type]
    upscale_video(upscaler, source, tmp_path / "whole.mkv", **LOSSLESS)  # type: ignore[arg-type]
    assert_same_video(tmp_path / "whole.mkv", target)


def test_resume_refuses_parts_made_with_other_settings(tmp_path: Path, upscaler: Upscaler) -> None:
    source = make_clip(tmp_path / "clip.mp4", frames=6, audio=False)
    target = tmp_path / "out.mkv"
    stop, on_frame = stop_after(2)
    upscale_video(upscaler, source, target, stop=stop, on_frame=on_frame, **LOSSLESS)  # type: ignore[arg-type]
    with pytest.raises(VideoError, match="other settings; pass --overwrite without --resume"):
        upscale_video(upscaler, source, target, resume=True, progress=False)  # h264, not ffv1
    result = upscale_video(upscaler, source, target, overwrite=True, progress=False)
    assert result.frames == 6 and len(read_clip(target).frames) == 6


def test_resume_refuses_parts_made_by_another_network(tmp_path: Path, upscaler: Upscaler) -> None:
    """A video is never stitched from two networks' frames: other weights (or precision) mean other settings."""
    source = make_clip(tmp_path / "clip.mp4", frames=6, audio=False)
    target = tmp_path / "out.mkv"
    stop, on_frame = stop_after(2)
    upscale_video(upscaler, source, target, stop=stop, on_frame=on_frame, **LOSSLESS)  # type: ignore[arg-type]
    other = Upscaler(tiny_rrdbnet(seed=1), TINY, upscaler.options)
    assert other.fingerprint() != upscaler.fingerprint()
    with pytest.raises(VideoError, match="other settings"):
        upscale_video(other, source, target, resume=True, **LOSSLESS)  # type: ignore[arg-type]
    upscale_video(upscaler, source, target, resume=True, **LOSSLESS)  # type: ignore[arg-type]
    assert len(read_clip(target).frames) == 6


INTERRUPTED_RUN = """
import json, sys, time
import torch
from pathlib import Path
from esrgan.interrupts import StopRequest
from esrgan.video.command import run_video_job
from esrgan.video.options import VideoOptions
from tests.video.clips import tiny_upscaler

torch.set_num_threads(1)
upscaler = tiny_upscaler()
network = upscaler.upscale_array
def slow(*args, **kwargs):
    time.sleep(0.15)  # a tiny network is too quick to be interrupted mid-run
    return network(*args, **kwargs)
upscaler.upscale_array = slow
options = VideoOptions(codec="ffv1", segment_frames=3)
with StopRequest("after the current frame", exit_at_once=True) as stop:
    print(json.dumps(run_video_job(upscaler, Path(sys.argv[1]), Path(sys.argv[2]), options, stop, quiet=True)))
"""


def test_ctrl_c_in_a_real_process_leaves_parts_that_resume(tmp_path: Path, upscaler: Upscaler) -> None:
    """SIGINT to a process running the job as the command line does: it closes the segment it is writing,
    says how to continue, exits cleanly, and no file carries the output's name; --resume then finishes it."""
    source = make_clip(tmp_path / "clip.mp4", frames=24)
    target = tmp_path / "out.mkv"
    manifest = WorkFolder(target).path / MANIFEST
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])}
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(source), str(target)], env=env,
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and json.loads(manifest.read_text())["segments"]:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    failures, stopped = json.loads(stdout)
    assert stopped and failures == []
    assert "Traceback" not in stderr and "run the same command with --resume" in stderr
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == [".out.mkv.parts", "clip.mp4"]
    done = json.loads(manifest.read_text())
    assert 0 < done["next_index"] < 24

    upscale_video(upscaler, source, target, resume=True, **LOSSLESS)  # type: ignore[arg-type]
    upscale_video(upscaler, source, tmp_path / "whole.mkv", **LOSSLESS)  # type: ignore[arg-type]
    assert_same_video(tmp_path / "whole.mkv", target)

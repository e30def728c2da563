"""Recognising videos by name and checking video options: every mistake is one `ConfigError` that names the
allowed values, raised before any file is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.errors import ConfigError
from esrgan.video.containers import FALLBACK_SUFFIX, is_video, output_format, output_suffix
from esrgan.video.options import CODECS, VideoOptions


@pytest.mark.parametrize("name", ["clip.mp4", "CLIP.MKV", "a.b.mov", "x.webm", "old.avi", "cam.m4v"])
def test_video_suffixes_are_recognised(name: str) -> None:
    assert is_video(name)


@pytest.mark.parametrize("name", ["photo.png", "notes.txt", "mp4", "clip.mp4.part"])
def test_other_names_are_not_videos(name: str) -> None:
    assert not is_video(name)


def test_an_unwritable_container_falls_back_to_matroska() -> None:
    assert output_suffix(Path("old.avi")) == FALLBACK_SUFFIX
    assert output_suffix(Path("clip.MOV")) == ".mov"
    with pytest.raises(ConfigError, match=r"\.mp4.*not \.avi"):
        output_format(Path("out.avi"))


@pytest.mark.parametrize(("options", "message"), [
    ({"codec": "divx"}, "choose one of h264, hevc"),
    ({"codec": "h264", "crf": 52}, r"lies in \[0, 51\]"),
    ({"codec": "ffv1", "crf": 10}, "lossless"),
    ({"segment_frames": 0}, "segment_frames"),
])
def test_bad_options_name_what_is_allowed(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VideoOptions(**options)  # type: ignore[arg-type]


def test_every_codec_default_is_within_its_own_scale() -> None:
    for codec in CODECS.values():
        assert (codec.crf is None) == (codec.default_crf is None)
        if codec.crf is not None and codec.default_crf is not None:
            assert codec.crf[0] <= codec.default_crf <= codec.crf[1]

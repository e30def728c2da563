"""The unfinished state of a video job on disk, so that a stopped run can be resumed.

The output is encoded as numbered segment files in a hidden work folder beside the target
(`.clip_x4.mp4.parts/00000.mp4`, ...). Each segment is a complete, playable video that starts on a keyframe
(it has its own encoder) and is renamed into place only once closed; `progress.json`, rewritten atomically
after each segment, lists the finished ones. The manifest is the truth: a file it does not list is an
interrupted segment and is removed when the run resumes.

A segment's timestamps are the source's, or (in MP4 and MOV) count from its first frame, whose time the
manifest keeps exactly (`EncodeSettings.counts_from_segment_start`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from esrgan.atomic import atomic_write
from esrgan.errors import VideoError
from esrgan.video.frames import SkippedFrame

MANIFEST = "progress.json"
_VERSION = 1
_PARTIAL = ".partial"
_OURS = re.compile(rf"(\d{{5}}({re.escape(_PARTIAL)})?\.[a-z0-9]+|{re.escape(MANIFEST)}|\..+\.part\.json)")
"""Every name the work folder may hold: segments, an unfinished segment, the manifest and its temp files."""


@dataclass(frozen=True)
class Segment:
    """One finished segment: `file` in the work folder, its frames `first` .. `first + frames - 1` (stream
    indices), and `start`, the source time its own timestamps count from (0, or its first frame's)."""

    file: str
    first: int
    frames: int
    start: Fraction


@dataclass
class Progress:
    """What the work folder's manifest holds. `next_index`: the first frame no finished segment covers;
    `source` and `settings` identify the job, so that a run with another input or settings never continues it."""

    source: dict[str, object]
    settings: dict[str, object]
    segments: list[Segment] = field(default_factory=list)
    next_index: int = 0
    skipped: list[SkippedFrame] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    def skip(self, frame: SkippedFrame) -> bool:
        """Record `frame`; False when it was recorded already (a resumed run decodes the same loss again)."""
        if any(s.index == frame.index for s in self.skipped):
            return False
        self.skipped.append(frame)
        return True

    def snapshot(self) -> Progress:
        """A copy that later appends to this one do not change (it is saved by another thread)."""
        return Progress(self.source, self.settings, list(self.segments), self.next_index, list(self.skipped))


def source_stamp(source: Path) -> dict[str, object]:
    """What identifies a source file: its resolved path, size and modification time."""
    status = source.stat()
    return {"path": str(source.resolve()), "size": status.st_size, "mtime_ns": status.st_mtime_ns}


class WorkFolder:
    """The hidden folder beside `target` that holds an unfinished job."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / f".{target.name}.parts"

    def segment(self, number: int) -> tuple[Path, Path]:
        """Where segment `number` is written, and the name it gets once closed."""
        suffix = self.target.suffix.lower()
        return self.path / f"{number:05d}{_PARTIAL}{suffix}", self.path / f"{number:05d}{suffix}"

    def start(self, progress: Progress, *, resume: bool, overwrite: bool) -> Progress:
        """The progress to continue from: a fresh `progress`, or with `resume` the one on disk when it belongs
        to the same source and settings. A folder left by another run is refused unless `resume` continues it
        or `overwrite` discards it."""
        if self.path.exists() and not self.path.is_dir():
            raise VideoError(f"{self.path}: is a file; the unfinished parts of {self.target.name} go there")
        if self.path.exists() and resume:
            found = self._load()
            differs = [key for key in ("source", "settings") if getattr(found, key) != getattr(progress, key)]
            if differs:
                what = " and ".join("the input file" if key == "source" else "other settings" for key in differs)
                raise VideoError(f"{self.path}: this unfinished run was made from {what}; pass --overwrite "
                                 f"without --resume to discard it and start again")
            listed = {s.file for s in found.segments} | {MANIFEST}
            for stray in self.path.iterdir():
                if stray.name not in listed:
                    stray.unlink()  # a segment a hard kill interrupted, or a manifest's temp file
            return found
        if self.path.exists():
            if not overwrite:
                raise VideoError(f"{self.target}: an unfinished run's parts are in {self.path}; pass --resume to "
                                 f"continue it or --overwrite to start again")
            self.remove()
        self.path.mkdir(parents=True)
        self.save(progress)
        return progress

    def save(self, progress: Progress) -> None:
        data = asdict(progress)
        data["version"] = _VERSION
        for segment in data["segments"]:
            segment["start"] = str(segment["start"])
        data["skipped"] = [{"index": s.index, "time": None if s.time is None else str(s.time), "reason": s.reason}
                           for s in progress.skipped]
        text = json.dumps(data, indent=1)

        def write(temp: Path) -> None:
            temp.write_text(text)

        atomic_write(self.path / MANIFEST, write)

    def _load(self) -> Progress:
        try:
            data = json.loads((self.path / MANIFEST).read_text())
            if data.pop("version") != _VERSION:
                raise ValueError("another version")
            return Progress(
                source=data["source"], settings=data["settings"], next_index=int(data["next_index"]),
                segments=[Segment(s["file"], int(s["first"]), int(s["frames"]), Fraction(s["start"]))
                          for s in data["segments"]],
                skipped=[SkippedFrame(int(s["index"]), None if s["time"] is None else Fraction(s["time"]), s["reason"])
                         for s in data["skipped"]],
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise VideoError(f"{self.path}: not a readable unfinished run ({error}); pass --overwrite without "
                             f"--resume to discard it") from None

    def remove(self) -> None:
        """Delete the folder, refusing when it holds anything this module did not write there."""
        foreign = [p.name for p in self.path.iterdir() if not _OURS.fullmatch(p.name) or not p.is_file()]
        if foreign:
            raise VideoError(f"{self.path}: holds files that are not parts of a video job ({', '.join(foreign)}); "
                             f"remove it yourself")
        shutil.rmtree(self.path)

    def finish_segment(self, written: Path, number: int) -> None:
        """Give a closed segment its final name."""
        os.replace(written, self.segment(number)[1])

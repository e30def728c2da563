"""From inputs to jobs: where each result goes, which results are already there, and the settings that
every job of a run shares (picklable, so that worker processes get them whole)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from esrgan.defaults import DEFAULT_MAX_PIXELS
from esrgan.imaging.io import IMAGE_SUFFIXES
from esrgan.jobs.inputs import InputFile
from esrgan.video.containers import is_video, output_suffix
from esrgan.video.options import VideoOptions


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path

    @property
    def is_video(self) -> bool:
        return is_video(self.source)


@dataclass(frozen=True)
class JobSettings:
    """What every job of a run shares besides the network: the final scale, back-projection, whether an
    existing output may be replaced, the input size limit, progress bars, and how videos are written."""

    outscale: float | None = None
    back_projection: int = 0
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    quiet: bool = False
    video: VideoOptions = field(default_factory=VideoOptions)


def names_a_file(output: Path) -> bool:
    """True when `output` is named like an image or a video: one input's result, not a folder of them."""
    return output.suffix.lower() in IMAGE_SUFFIXES or is_video(output)


def target_for(file: InputFile, output: Path, single: bool, suffix: str, ext: str) -> Path:
    """Where the result of `file` goes: `output` itself for one input named like an image or a video, else
    below it, at the input's place in its tree.

    An image keeps its format with `ext` "auto" when it can be written, else becomes PNG; a video keeps its
    container where it can be written, else becomes Matroska (`esrgan.video.containers.output_suffix`).
    """
    if single and names_a_file(output):
        return output
    folder = output / file.relative.parent
    if is_video(file.path):
        return folder / f"{file.path.stem}{suffix}{output_suffix(file.path)}"
    extension = file.path.suffix.lower() if ext == "auto" else "." + ext.lstrip(".").lower()
    if extension not in IMAGE_SUFFIXES:
        extension = ".png"
    return folder / f"{file.path.stem}{suffix}{extension}"


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    existing: list[Job] = field(default_factory=list)
    """Jobs whose output is already there, left out with `skip_existing`: done by an earlier run (outputs
    appear only complete, by an atomic rename)."""
    clashes: dict[str, str] = field(default_factory=dict)
    """Each input whose output another input of the run already claims, with the line saying so."""


def plan_jobs(
    files: list[InputFile], output: Path, *, suffix: str = "", ext: str = "auto", skip_existing: bool = False
) -> Plan:
    """The jobs for `files`, in order; with `skip_existing`, those whose output exists are set apart."""
    plan = Plan()
    claimed: dict[Path, Path] = {}
    for file in files:
        target = target_for(file, output, len(files) == 1, suffix, ext)
        if (first := claimed.setdefault(target, file.path)) != file.path:
            plan.clashes[str(file.path)] = (f"{file.path}: its output {target} is also that of {first}; rename one, "
                                            "or run them separately or with another --suffix")
            continue
        job = Job(file.path, target)
        (plan.existing if skip_existing and target.exists() else plan.jobs).append(job)
    return plan

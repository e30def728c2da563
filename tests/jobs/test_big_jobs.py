"""Big jobs through `esrgan upscale`: folder trees mirrored, re-runs that continue where a killed run stopped,
a per-input report, and shares of the inputs for the processes a launcher starts."""

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
from PIL import Image

from esrgan.cli.main import main
from esrgan.imaging.io import read_image
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.usefixtures("one_thread")
RUN = ["--quiet", "--precision", "fp32", "--backend", "torch", "--tile", "0"]


def upscale(*args: str | Path) -> int:
    return main(["upscale", *RUN, *map(str, args)])


def picture(path: Path, seed: int, size: tuple[int, int] = (12, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def tree(root: Path) -> dict[str, Path]:
    """A small photo library: nested folders, a JPEG, a hidden file and a hidden folder to pass over."""
    files = {"top.png": 0, "trip/day1/a.png": 1, "trip/day1/b.jpg": 2, "trip/day2/c.png": 3}
    made = {name: picture(root / name, seed) for name, seed in files.items()}
    picture(root / ".thumbs" / "x.png", 9)
    picture(root / "trip" / ".hidden.png", 9)
    return made


def outputs(folder: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(folder)): read_image(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_tree_is_mirrored_and_each_output_equals_its_own_run(tmp_path: Path, tiny_checkpoint: Path) -> None:
    made = tree(tmp_path / "library")
    assert upscale(tmp_path / "library", "-r", "-o", tmp_path / "out", "--weights", tiny_checkpoint) == 0
    found = outputs(tmp_path / "out")
    assert sorted(found) == ["top.png", "trip/day1/a.png", "trip/day1/b.jpg", "trip/day2/c.png"]
    for name, source in made.items():
        assert upscale(source, "-o", tmp_path / "single" / name, "--weights", tiny_checkpoint) == 0
        assert np.array_equal(found[name], read_image(tmp_path / "single" / name)), name


def test_an_output_inside_the_input_tree_is_not_taken_as_input(tmp_path: Path, tiny_checkpoint: Path) -> None:
    tree(tmp_path / "library")
    for _ in range(2):
        assert upscale(tmp_path / "library", "-r", "-o", tmp_path / "library" / "x4", "--weights", tiny_checkpoint,
                       "--skip-existing") == 0
    assert not (tmp_path / "library" / "x4" / "x4").exists()
    assert len(list((tmp_path / "library" / "x4").rglob("*.*"))) == 4


def test_skip_existing_counts_outputs_as_done_and_the_report_says_so(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree(tmp_path / "library")
    (tmp_path / "library" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    assert upscale(tmp_path / "library", "-r", "-o", out, "--weights", tiny_checkpoint, "--report", report) == 1
    first = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(r["status"] for r in first) == ["done"] * 4 + ["failed"]
    assert next(r for r in first if r["status"] == "failed")["input"].endswith("broken.png")
    assert all(r["seconds"] > 0 for r in first if r["status"] == "done")
    capsys.readouterr()

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.*")}
    assert upscale(tmp_path / "library", "-r", "-o", out, "--weights", tiny_checkpoint, "--report", report,
                   "--skip-existing") == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.*")} == before  # nothing written again
    second = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(r["status"] for r in second) == ["failed"] + ["skipped"] * 4
    assert capsys.readouterr().err.splitlines()[-1] == (
        "esrgan: 0 done, 4 skipped (already there), 1 of 5 images failed")


def test_two_inputs_for_one_output_are_refused_one_line_each(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture(tmp_path / "in" / "a.png", 0)
    picture(tmp_path / "in" / "a.jpg", 1)
    assert upscale(tmp_path / "in", "-o", tmp_path / "out", "--ext", "png", "--weights", tiny_checkpoint) == 1
    assert "its output" in capsys.readouterr().err and [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]


def test_the_report_names_each_input_left_out_by_its_whole_path(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Names with ": " in them (a camera's time stamp) are named whole, not cut where the reason begins."""
    picture(tmp_path / "in" / "10: 30.png", 0)
    picture(tmp_path / "in" / "10: 30.jpg", 1)
    os.mkfifo(tmp_path / "at 11: 00.png")
    report = tmp_path / "report.jsonl"
    assert upscale(tmp_path / "in", tmp_path / "at 11: 00.png", tmp_path / "gone: 1.png", "-o", tmp_path / "out",
                   "--ext", "png", "--weights", tiny_checkpoint, "--report", report) == 1
    failed = {r["input"]: r["reason"] for r in map(json.loads, report.read_text().splitlines())
              if r["status"] == "failed"}
    assert sorted(failed) == sorted(str(p) for p in (tmp_path / "in" / "10: 30.png", tmp_path / "at 11: 00.png",
                                                     tmp_path / "gone: 1.png"))
    assert all(reason.startswith(f"{name}: ") for name, reason in failed.items())
    assert len(capsys.readouterr().err.splitlines()) >= 3


@pytest.mark.parametrize(("options", "message"), [
    (["--skip-existing", "--overwrite"], "--skip-existing leaves existing outputs alone"),
])
def test_contradictory_options(tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str],
                               options: list[str], message: str) -> None:
    picture(tmp_path / "a.png", 0)
    assert upscale(tmp_path / "a.png", "-o", tmp_path / "out", "--weights", tiny_checkpoint, *options) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_temp_files_of_interrupted_writes_are_removed_only_for_this_runs_outputs(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `kill -9` leaves a write's hidden temp file; the run that writes that output again removes it, and
    leaves alone any other (another process's write in progress looks the same)."""
    picture(tmp_path / "in" / "a.b.png", 0)
    picture(tmp_path / "in" / "c.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    ours, theirs = out / ".a.b.k3x_9q2z.part.png", out / ".other.abcd1234.part.png"
    for temp in (ours, theirs):
        temp.write_bytes(b"half an image")
    loud = [option for option in RUN if option != "--quiet"]
    assert main(["upscale", *loud, str(tmp_path / "in"), "-o", str(out), "--weights", str(tiny_checkpoint)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [theirs.name, "a.b.png", "c.png"]
    assert "esrgan: removed 1 unfinished file(s) that an interrupted run left" in capsys.readouterr().err


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "esrgan", "upscale", *RUN, *map(str, args)]


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1"}


def test_a_killed_run_rerun_with_skip_existing_equals_one_uninterrupted_run(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    """SIGKILL part-way (no chance to clean up), then the same command with --skip-existing: every output
    exists once, equal to an uninterrupted run's, and no half-written file carries an output's name."""
    for index in range(16):
        picture(tmp_path / "in" / f"{index:02d}.png", index, size=(96, 80))
    whole = subprocess.run(command(tmp_path / "in", "-o", tmp_path / "whole", "--weights", tiny_checkpoint),
                           env=ENV, capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "out"
    process = subprocess.Popen(command(tmp_path / "in", "-o", out, "--weights", tiny_checkpoint), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(list(out.glob("[0-9]*.png"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    finished = sorted(p.name for p in out.glob("[0-9]*.png"))
    assert 0 < len(finished) < 16, "the kill should land part-way"
    for name in finished:  # whatever carries an output's name is complete
        assert np.array_equal(read_image(out / name), read_image(tmp_path / "whole" / name))
    again = subprocess.run(command(tmp_path / "in", "-o", out, "--weights", tiny_checkpoint, "--skip-existing"),
                           env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(finished)} skipped (already there)" in again.stderr
    final = sorted(p.name for p in out.iterdir())
    assert final == sorted(p.name for p in (tmp_path / "whole").iterdir()), "no temp file is left either"
    for name in final:
        assert np.array_equal(read_image(out / name), read_image(tmp_path / "whole" / name))


def test_two_torchrun_ranks_share_a_tree_disjointly_and_completely(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """torchrun starts two processes (the launcher and the shared folder are the only coordination); each takes
    its share of the sorted inputs; the shares are disjoint and together equal one process's run."""
    made = tree(tmp_path / "library")
    for index in range(3):
        picture(tmp_path / "library" / "more" / f"{index}.png", 10 + index)
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=0",
              "-m", "esrgan", "upscale", *RUN, str(tmp_path / "library"), "-r", "-o", str(tmp_path / "out"),
              "--weights", str(tiny_checkpoint), "--report", str(tmp_path / "report.jsonl")]
    ran = subprocess.run(launch, env=ENV, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    shares = [{r["input"] for r in map(json.loads, (tmp_path / f"report.rank{rank}.jsonl").read_text().splitlines())
               if r["status"] == "done"} for rank in (0, 1)]
    assert shares[0] and shares[1] and not shares[0] & shares[1]
    assert len(shares[0] | shares[1]) == len(made) + 3
    assert upscale(tmp_path / "library", "-r", "-o", tmp_path / "alone", "--weights", tiny_checkpoint) == 0
    together, alone = outputs(tmp_path / "out"), outputs(tmp_path / "alone")
    assert sorted(together) == sorted(alone)
    for name in alone:
        assert np.array_equal(together[name], alone[name]), name

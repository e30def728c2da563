"""`esrgan train` against a full disk, a killed save, damaged or garbage checkpoints and a changed config:
each ends in one line on stderr and exit status 2 (or continues, saying why), with every good file kept."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from esrgan.cli.main import main
from esrgan.training.checkpoint import checkpoint_dir, list_checkpoints, load_training_state
from tests.training.helpers import tiny_raw_config, write_images
from tests.training.test_checkpoint_hardening import fill_disk, kill_during_save, unfinished_files

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("hostile-train") / "hr", 6, (52, 44))


@pytest.fixture
def config(tmp_path: Path, images: Path) -> Path:
    """A tiny config file: 4 iterations, a checkpoint every 2, run folder `tmp_path/runs/run`."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_raw_config(tmp_path / "runs", images)))
    return path


def run_folder(config: Path) -> Path:
    return config.parent / "runs" / "run"


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()


def test_a_full_disk_during_a_save_is_one_line_and_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's own "[enforce fail at inline_container.cc]" from the failed write becomes one line that names
    the cause, the folder and the last good checkpoint."""
    folder = checkpoint_dir(run_folder(config))
    fill_disk(monkeypatch, folder, room=1000, after=1)
    assert main(["train", str(config)]) == 2
    good = folder / "iter_00000002.pt"
    assert error_lines(capsys) == [
        f"esrgan: error: could not save the checkpoint of iteration 4: no space left on device while writing "
        f"iter_00000004.pt in {folder}; nothing partial was left and the last good checkpoint, {good}, is kept: "
        "free space there, then continue with --resume"
    ]
    assert [path for _, path in list_checkpoints(run_folder(config))] == [good]
    assert unfinished_files(run_folder(config)) == [] and load_training_state(good)["iteration"] == 2

    monkeypatch.undo()  # space freed
    assert main(["train", str(config), "--resume"]) == 0
    assert "finished at iteration 4" in capsys.readouterr().out


@pytest.mark.parametrize("garbage", [b"", random.Random(0).randbytes(5000)], ids=["zero-bytes", "random-bytes"])
def test_resume_over_a_garbage_checkpoint_is_one_line_naming_it(
    config: Path, capsys: pytest.CaptureFixture[str], garbage: bytes
) -> None:
    path = checkpoint_dir(run_folder(config)) / "iter_00000002.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(garbage)
    assert main(["train", str(config), "--resume"]) == 2
    reason = "empty (0 bytes)" if not garbage else "not a PyTorch checkpoint (5000 bytes of another format, or garbage)"
    assert error_lines(capsys) == [
        f"esrgan: error: --resume: no readable checkpoint in {path.parent} (iter_00000002.pt: {reason}); put back a "
        "good checkpoint from a copy, or start a new run with another `name`"
    ]
    assert path.read_bytes() == garbage


def test_resume_skips_a_damaged_newest_checkpoint_saying_so(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(config)]) == 0
    newest = checkpoint_dir(run_folder(config)) / "iter_00000004.pt"
    newest.write_bytes(b"\0" * 4096)  # a disk error zeroed it
    capsys.readouterr()
    assert main(["train", str(config), "--resume", "--set", "training.iterations=5"]) == 0
    out = capsys.readouterr().out
    assert (f"skipped {newest}: not a PyTorch checkpoint (4096 bytes of another format, or garbage); resuming from "
            "iter_00000002.pt instead") in out
    assert "resuming psnr stage at iteration 2 of 5" in out and "finished at iteration 5" in out


def test_resume_with_a_new_learning_rate_is_refused_before_training(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The optimiser state would keep the old rate while config.yaml said the new one: refused, one line per key;
    a new iteration count is fine."""
    assert main(["train", str(config)]) == 0
    run_dir = run_folder(config)
    saved = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    capsys.readouterr()
    assert main(["train", str(config), "--resume", "--set", "optim.lr_g=0.5", "--set", "data.patch_size=16"]) == 2
    header, *keys = error_lines(capsys)
    assert header.startswith(f"esrgan: error: --resume: 2 setting(s) differ from those the run was trained with "
                             f"(saved in {checkpoint_dir(run_dir) / 'iter_00000004.pt'}) and cannot change "
                             "mid-run; start a new run with another `name` instead, or resume with the old values")
    assert "training.iterations" in header  # says what may change
    assert keys == ["  data.patch_size: 32 -> 16", "  optim.lr_g: 0.001 -> 0.5"]
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == saved

    assert main(["train", str(config), "--resume", "--set", "training.iterations=6"]) == 0
    assert "finished at iteration 6" in capsys.readouterr().out


def test_the_next_start_removes_the_files_of_a_killed_save(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(config)]) == 0
    run_dir = run_folder(config)
    kill_during_save(checkpoint_dir(run_dir) / "iter_00000006.pt")
    left = unfinished_files(run_dir)
    assert len(left) == 1
    capsys.readouterr()
    assert main(["train", str(config), "--resume", "--set", "training.iterations=6"]) == 0
    assert f"removed 1 partial file(s) of a save that was killed: {left[0]}" in capsys.readouterr().out
    assert unfinished_files(run_dir) == [] and [it for it, _ in list_checkpoints(run_dir)] == [2, 4, 6]

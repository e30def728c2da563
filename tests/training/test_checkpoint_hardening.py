"""Checkpoints under hostile conditions: a full disk, a `kill -9` in the middle of a save, a damaged newest
checkpoint, garbage files, and a resume whose config changed. Each keeps every good file and says so in one
line."""

from __future__ import annotations

import builtins
import errno
import io
import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import IO, Any

import pytest
import torch
from safetensors import SafetensorError

import esrgan.weights.io
from esrgan.atomic import atomic_write
from esrgan.errors import CheckpointError, ConfigError
from esrgan.training.checkpoint import checkpoint_dir, list_checkpoints, load_training_state, remove_leftovers
from esrgan.training.loop import train
from esrgan.weights.layouts import load_checkpoint
from tests.training.helpers import tiny_config
from tests.training.test_loop import assert_states_equal, loss_records


class DiskFile(io.FileIO):
    """A real file on a disk with `room` bytes left: the write that would pass it fails as the kernel's does."""

    def __init__(self, path: str | os.PathLike, room: int) -> None:
        super().__init__(path, "w")
        self.room = room

    def write(self, data: bytes) -> int:
        if self.tell() + memoryview(data).nbytes > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def fill_disk(monkeypatch: pytest.MonkeyPatch, folder: Path, *, room: int, after: int) -> None:
    """Files written in `folder` after the first `after` land on a disk with `room` bytes left."""
    real_open = builtins.open
    opened: list[object] = []

    def open_on_filling_disk(file: str | os.PathLike, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        if "w" in mode and Path(file).parent == folder:
            opened.append(file)
            if len(opened) > after:
                return io.BufferedWriter(DiskFile(file, room))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_on_filling_disk)


def unfinished_files(run_dir: Path) -> list[Path]:
    """Temp files of any writer (ours: `.NAME.XXXXXXXX.part.EXT`; safetensors': `.tmpXXXXXX`)."""
    return [p for p in run_dir.rglob(".*") if ".part" in p.name or p.name.startswith(".tmp")]


def kill_during_save(path: Path) -> None:
    """`kill -9` a process while it writes `path` through `atomic_write`: its temp file stays behind."""
    def write_slowly(temp: Path) -> None:
        temp.write_bytes(b"half a checkpoint")
        time.sleep(60)

    pid = os.fork()
    if pid == 0:  # the child, killed before it finishes
        try:
            atomic_write(path, write_slowly)
        finally:
            os._exit(1)
    deadline = time.monotonic() + 30
    while not list(path.parent.glob(f".{path.stem}.*.part{path.suffix}")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


# --- 1. a full disk ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("room", [0, 1000, 50_000], ids=["no-room", "torch-enforce-fail", "mid-file"])
def test_a_full_disk_during_a_save_is_one_line_and_loses_nothing(
    tmp_path: Path, small_images: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    """Whether the write fails at once (torch passes the OSError on) or part-way (torch raises its own
    "enforce fail at inline_container.cc"), the error names the cause, the file, the folder and the last good
    checkpoint; the partial file is gone, and the run continues from that checkpoint once there is space."""
    config = tiny_config(tmp_path, small_images)
    folder = checkpoint_dir(config.run_dir)
    fill_disk(monkeypatch, folder, room=room, after=1)
    with pytest.raises(CheckpointError) as caught:
        train(config)
    good = folder / "iter_00000002.pt"
    assert str(caught.value) == (
        f"could not save the checkpoint of iteration 4: no space left on device while writing iter_00000004.pt "
        f"in {folder}; nothing partial was left and the last good checkpoint, {good}, is kept: free space there, "
        "then continue with --resume"
    )
    assert [path for _, path in list_checkpoints(config.run_dir)] == [good]
    assert unfinished_files(config.run_dir) == []
    _, released = load_checkpoint(config.run_dir / "net_g.safetensors")
    assert_states_equal(released, load_training_state(good)["generator"])

    monkeypatch.undo()  # space freed
    assert train(config, resume=True).iteration == 4


def test_a_full_disk_under_the_logs_is_said_once_and_the_training_goes_on(
    tmp_path: Path, small_images: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """train.log and metrics.jsonl fill up after a few lines: one warning, and the run ends with its checkpoints."""
    config = tiny_config(tmp_path, small_images)
    real_open = builtins.open

    def logs_on_a_full_disk(file: str | os.PathLike, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        if mode == "a" and Path(file).name in ("train.log", "metrics.jsonl"):
            return io.TextIOWrapper(io.BufferedWriter(DiskFile(file, room=200)), encoding="utf-8")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", logs_on_a_full_disk)
    assert train(config).iteration == 4
    warnings = [line for line in capsys.readouterr().err.splitlines() if "cannot write the run's log" in line]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert (checkpoint_dir(config.run_dir) / "iter_00000004.pt").is_file()
    assert (config.run_dir / "net_g.safetensors").is_file()


def test_a_full_disk_while_writing_the_generator_keeps_the_new_training_state(
    tmp_path: Path, small_images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(tmp_path, small_images)
    real_save_file, calls = esrgan.weights.io.save_file, []

    def save_file_on_full_disk(tensors: dict[str, torch.Tensor], filename: str,
                               metadata: dict[str, str] | None = None) -> None:
        calls.append(filename)
        if len(calls) == 1:
            real_save_file(tensors, filename, metadata=metadata)
            return
        Path(filename).write_bytes(b"\0" * 100)  # what fitted before the disk filled
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(esrgan.weights.io, "save_file", save_file_on_full_disk)
    with pytest.raises(CheckpointError, match=r"no space left on device while writing net_g.safetensors in "
                                              r".*iter_00000004.pt, is kept"):
        train(config)
    assert unfinished_files(config.run_dir) == []
    assert load_training_state(checkpoint_dir(config.run_dir) / "iter_00000004.pt")["iteration"] == 4
    assert load_checkpoint(config.run_dir / "net_g.safetensors")[1]  # the previous generator, whole


def test_a_full_disk_at_the_first_save_says_nothing_was_saved_yet(
    tmp_path: Path, small_images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(tmp_path, small_images)
    fill_disk(monkeypatch, checkpoint_dir(config.run_dir), room=0, after=0)
    with pytest.raises(CheckpointError, match="no checkpoint had been saved yet: free space there, then start the "
                                              "run again$"):
        train(config)
    assert list_checkpoints(config.run_dir) == [] and unfinished_files(config.run_dir) == []


# --- 2. what a kill -9 in the middle of a save leaves --------------------------------------------------------


@pytest.mark.parametrize("resume", [False, True], ids=["new-run", "resume"])
def test_the_next_start_removes_what_a_killed_save_left(tmp_path: Path, small_images: Path, resume: bool) -> None:
    config = tiny_config(tmp_path, small_images)
    run_dir = config.run_dir
    if resume:
        train(tiny_config(tmp_path, small_images, training={"iterations": 2}))
    kill_during_save(checkpoint_dir(run_dir) / f"iter_{6 if resume else 2:08d}.pt")
    kill_during_save(run_dir / "net_g.safetensors")
    (run_dir / ".tmpAb3xYz").write_bytes(b"safetensors' own temp file")
    keep = [run_dir / "notes.part.txt", run_dir / ".hidden"]  # not temp names of a writer
    for path in keep:
        path.write_text("mine")
    left = unfinished_files(run_dir)
    assert len(left) == 3

    train(config, resume=resume)
    assert unfinished_files(run_dir) == [] and all(path.is_file() for path in keep)
    log = (run_dir / "train.log").read_text()
    assert f"removed 3 partial file(s) of a save that was killed: {', '.join(map(str, sorted(left)))}" in log


def test_remove_leftovers_leaves_finished_files_alone(tmp_path: Path, small_images: Path) -> None:
    run_dir = train(tiny_config(tmp_path, small_images)).run_dir
    before = sorted(run_dir.rglob("*"))
    assert remove_leftovers(run_dir) == [] and sorted(run_dir.rglob("*")) == before


# --- 3. and 5. damaged checkpoints -------------------------------------------------------------------------


class Foreign:
    """A class the restricted unpickler does not allow."""


DAMAGES = {
    "zero-bytes": (lambda path: path.write_bytes(b""), "empty (0 bytes)"),
    "random-bytes": (lambda path: path.write_bytes(random.Random(0).randbytes(5000)),
                     "not a PyTorch checkpoint (5000 bytes of another format, or garbage)"),
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:3000]),
                  "truncated (3000 bytes, the end of the archive is missing)"),
    "foreign-object": (lambda path: torch.save({"iteration": 4, "generator": Foreign()}, path),
                       "holds objects other than tensors and plain containers, so it was not loaded (nothing in it "
                       "ran)"),
    "not-ours": (lambda path: torch.save({"weights": torch.zeros(2)}, path),
                 "not a training checkpoint of this package (no iteration / generator / config)"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_checkpoint_is_refused_in_one_line_naming_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "iter_00000004.pt"
    torch.save({"iteration": 4, "generator": {"w": torch.zeros(4096)}, "config": {}}, path)
    make, reason = DAMAGES[damage]
    make(path)
    with pytest.raises(CheckpointError) as caught:
        load_training_state(path)
    assert str(caught.value) == f"{path}: {reason}"


def test_a_damaged_newest_checkpoint_is_skipped_and_the_run_continues_exactly(
    tmp_path: Path, small_images: Path
) -> None:
    """Resuming from the checkpoint before a damaged one gives the same run as one never interrupted."""
    settings = dict(training={"iterations": 6})
    straight = train(tiny_config(tmp_path / "a", small_images, **settings))
    first = train(tiny_config(tmp_path / "b", small_images))
    damaged = first.checkpoint
    damaged.write_bytes(damaged.read_bytes()[:3000])
    resumed = train(tiny_config(tmp_path / "b", small_images, **settings), resume=True)

    assert loss_records(straight.run_dir) == loss_records(resumed.run_dir)
    state_a, state_b = load_training_state(straight.checkpoint), load_training_state(resumed.checkpoint)
    for key in ("generator", "optimizer_g", "schedulers", "scaler", "iteration"):
        assert_states_equal(state_a[key], state_b[key], key)
    log = (resumed.run_dir / "train.log").read_text()
    assert (f"skipped {damaged}: truncated (3000 bytes, the end of the archive is missing); resuming from "
            "iter_00000002.pt instead") in log
    assert load_training_state(damaged)["iteration"] == 4  # rewritten whole when the run got there again


def test_resume_stops_when_no_checkpoint_reads_and_keeps_the_files(tmp_path: Path, small_images: Path) -> None:
    config = tiny_config(tmp_path, small_images)
    train(config)
    older, newer = [path for _, path in list_checkpoints(config.run_dir)]
    older.write_bytes(b"")
    newer.write_bytes(random.Random(0).randbytes(100))
    with pytest.raises(CheckpointError) as caught:
        train(config, resume=True)
    assert str(caught.value) == (
        f"--resume: no readable checkpoint in {older.parent} (iter_00000004.pt: not a PyTorch checkpoint (100 "
        "bytes of another format, or garbage); iter_00000002.pt: empty (0 bytes)); put back a good checkpoint "
        "from a copy, or start a new run with another `name`"
    )
    assert older.read_bytes() == b"" and newer.stat().st_size == 100


# --- 4. a changed config on resume -------------------------------------------------------------------------


def test_resume_refuses_settings_that_shaped_the_checkpoint(tmp_path: Path, small_images: Path) -> None:
    """A new learning rate would be overridden by the optimiser state: refused, one line per key."""
    config = tiny_config(tmp_path, small_images)
    train(config)
    saved = {path: path.read_bytes() for path in sorted(config.run_dir.rglob("*")) if path.is_file()}
    changed = tiny_config(tmp_path, small_images, seed=4, optim={"lr_g": 0.5, "milestones": [3, 5]})
    with pytest.raises(ConfigError) as caught:
        train(changed, resume=True)
    header, *lines = str(caught.value).splitlines()
    assert header.startswith(f"--resume: 3 setting(s) differ from those the run was trained with (saved in "
                             f"{checkpoint_dir(config.run_dir) / 'iter_00000004.pt'}) and cannot change mid-run; "
                             "start a new run with another `name` instead")
    assert lines == ["  optim.lr_g: 0.001 -> 0.5", "  optim.milestones: [3] -> [3, 5]", "  seed: 3 -> 4"]
    assert {path: path.read_bytes() for path in sorted(config.run_dir.rglob("*")) if path.is_file()} == saved


def test_resume_accepts_new_stopping_logging_and_checkpoint_settings_and_a_moved_run(
    tmp_path: Path, small_images: Path
) -> None:
    train(tiny_config(tmp_path / "old", small_images))
    shutil.copytree(tmp_path / "old", tmp_path / "new")
    config = tiny_config(tmp_path / "new", small_images, training={"iterations": 6, "max_minutes": 60},
                         logging={"every": 2}, checkpoint={"every": 3, "keep_last": 1},
                         validation={"every": 7, "save_images": 0})
    result = train(config, resume=True)
    assert result.iteration == 6 and [it for it, _ in list_checkpoints(result.run_dir)] == [6]
    assert "iterations: 6" in (result.run_dir / "config.yaml").read_text()


def test_a_run_saved_before_a_config_key_existed_still_resumes(tmp_path: Path, small_images: Path) -> None:
    """A checkpoint whose stored config lacks keys a later version added (here the generator's `unshuffle`,
    `plus`, `residual_scale` and `init_scale`, and `loss.gan_type`) resumes: the stored config is resolved with
    today's defaults before it is compared."""
    train(tiny_config(tmp_path, small_images))
    _, newest = list_checkpoints(tmp_path / "run")[-1]
    state = torch.load(newest, weights_only=True)
    for key in ("unshuffle", "plus", "residual_scale", "init_scale"):
        del state["config"]["generator"][key]
    del state["config"]["loss"]["gan_type"]
    torch.save(state, newest)
    result = train(tiny_config(tmp_path, small_images, training={"iterations": 6}), resume=True)
    assert result.iteration == 6

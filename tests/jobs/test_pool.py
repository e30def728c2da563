"""Several worker processes, one queue: the same outputs as one process, a device that cannot start leaves its
share to the others, Ctrl-C stops them all, and impossible device lists are one line."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from esrgan.errors import ConfigError
from esrgan.jobs.pool import plan_workers
from esrgan.options import UpscaleOptions
from tests.jobs.test_big_jobs import ENV, command, outputs, picture, upscale

pytestmark = pytest.mark.usefixtures("one_thread")


def folder_of_pictures(folder: Path, count: int, size: tuple[int, int] = (12, 10)) -> Path:
    for index in range(count):
        picture(folder / f"{index:02d}.png", index, size)
    return folder


def test_two_cpu_workers_give_what_one_process_gives(tmp_path: Path, tiny_checkpoint: Path) -> None:
    inputs = folder_of_pictures(tmp_path / "in", 8)
    ran = subprocess.run(command(inputs, "-o", tmp_path / "pool", "--weights", tiny_checkpoint, "--workers", "2",
                                 "--report", tmp_path / "report.jsonl"), env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert upscale(inputs, "-o", tmp_path / "alone", "--weights", tiny_checkpoint) == 0
    pool, alone = outputs(tmp_path / "pool"), outputs(tmp_path / "alone")
    assert sorted(pool) == sorted(alone) and all(np.array_equal(pool[name], alone[name]) for name in alone)
    records = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["done"] * 8


def test_a_device_that_cannot_start_leaves_its_share_to_the_others(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """No GPU here: the cuda worker fails to load its model, says so in one line, and the CPU worker does
    every job (work stealing: a device that takes nothing from the queue costs nothing)."""
    inputs = folder_of_pictures(tmp_path / "in", 4)
    ran = subprocess.run(command(inputs, "-o", tmp_path / "out", "--weights", tiny_checkpoint,
                                 "--devices", "cpu,cuda:0"), env=ENV, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "cuda:0: device cuda asked for, but PyTorch sees no CUDA GPU" in ran.stderr
    assert "Traceback" not in ran.stderr and len(list((tmp_path / "out").glob("*.png"))) == 4


def test_when_no_worker_starts_every_job_fails_with_the_reason(tmp_path: Path, tiny_checkpoint: Path) -> None:
    inputs = folder_of_pictures(tmp_path / "in", 3)
    ran = subprocess.run(command(inputs, "-o", tmp_path / "out", "--weights", tiny_checkpoint,
                                 "--devices", "cuda:0,cuda:1", "--report", tmp_path / "r.jsonl"),
                         env=ENV, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["failed"] * 3
    assert all("could not start" in r["reason"] for r in records)


def test_ctrl_c_stops_every_worker_and_a_rerun_finishes(tmp_path: Path, tiny_checkpoint: Path) -> None:
    inputs = folder_of_pictures(tmp_path / "in", 40, size=(96, 80))
    out = tmp_path / "out"
    process = subprocess.Popen(command(inputs, "-o", out, "--weights", tiny_checkpoint, "--workers", "2"),
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and len(list(out.glob("*.png"))) < 2:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    assert "not done" in stderr and "Traceback" not in stderr
    assert 0 < len(list(out.glob("*.png"))) < 40
    rerun = subprocess.run(command(inputs, "-o", out, "--weights", tiny_checkpoint, "--workers", "2",
                                   "--skip-existing"), env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in inputs.iterdir())


@pytest.mark.parametrize(("devices", "workers", "message"), [
    ("tpu", 1, "'tpu' is not a device"), ("cuda:x", 1, "'cuda:x' is not a device"),
    ("cpu", 0, "--workers must be >= 1"), ("cpu", 10_000, "CPU workers, but this process may use only"),
])
def test_impossible_worker_plans_are_one_line(devices: str, workers: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_workers(devices, workers, UpscaleOptions())


def test_cpu_workers_split_the_cores() -> None:
    import os

    cores = sorted(os.sched_getaffinity(0))
    workers = plan_workers("cpu", len(cores), UpscaleOptions())
    assert sorted(sum((list(w.cores or ()) for w in workers), [])) == cores
    assert [w.options.device for w in plan_workers("cuda:1,cuda:1,cpu", 1, UpscaleOptions())] == ["cuda", "cpu"]

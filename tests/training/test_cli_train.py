"""`esrgan train`: Ctrl-C saves and exits cleanly, and a config mistake is one line and a non-zero exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from esrgan.cli.main import main
from esrgan.training.checkpoint import list_checkpoints
from tests.training.helpers import tiny_raw_config


def write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def start(config: Path, *extra: str) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "esrgan", "train", str(config), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged_iterations(run_dir: Path) -> list[int]:
    metrics = run_dir / "metrics.jsonl"
    if not metrics.exists():
        return []
    return [json.loads(line)["iteration"] for line in metrics.read_text().splitlines() if line.endswith("}")]


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path, small_images: Path) -> None:
    raw = tiny_raw_config(tmp_path / "runs", small_images, training={"iterations": 100_000},
                          checkpoint={"every": 100_000})
    config = write_config(tmp_path / "config.yaml", raw)
    run_dir = tmp_path / "runs" / "run"
    process = start(config)
    deadline = time.monotonic() + 120
    while len(logged_iterations(run_dir)) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "SIGINT: stopping after this iteration" in stderr
    last = logged_iterations(run_dir)[-1]
    assert [it for it, _ in list_checkpoints(run_dir)] == [last]
    assert f"interrupted at iteration {last}; saved" in stdout and "--resume" in stdout
    assert (run_dir / "net_g.safetensors").is_file()

    # The saved run continues.
    process = start(config, "--resume", "--set", f"training.iterations={last + 1}")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert f"finished at iteration {last + 1}" in stdout


def test_config_mistakes_are_one_line_and_exit_2(tmp_path: Path, small_images: Path, capsys) -> None:
    raw = tiny_raw_config(tmp_path / "runs", small_images)
    raw["training"]["iteratons"] = raw["training"].pop("iterations")
    assert main(["train", str(write_config(tmp_path / "typo.yaml", raw))]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("esrgan: error:") and "training.'iteratons'" in error and "'iterations'" in error
    assert len(error.splitlines()) == 1
    assert main(["train", str(write_config(tmp_path / "ok.yaml", tiny_raw_config(tmp_path / "runs", small_images))),
                 "--set", "data.train_hr=/nonexistent"]) == 2
    assert "/nonexistent does not exist" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()

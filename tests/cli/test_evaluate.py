"""`esrgan evaluate` end to end: the paper's bicubic figure on Set5, a tiny network, reports, bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from esrgan.cli.main import main
from esrgan.imaging.io import read_image, write_image
from esrgan.metrics.ma import MODEL_ENV
from tests.conftest import SHARED

SET5 = SHARED / "datasets" / "Set5"
SET5_LR_PACK = SHARED / "reference" / "imresize" / "set5_x4_u8"
RNG = np.random.default_rng(5)


def evaluate(*args: str | Path) -> int:
    return main(["evaluate", "--quiet", *map(str, args)])


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    folder = tmp_path / "Small"
    folder.mkdir()
    write_image(folder / "one.png", RNG.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    write_image(folder / "two.png", RNG.integers(0, 256, (44, 37), dtype=np.uint8))
    return folder


def test_bicubic_on_set5_is_the_published_28_42_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "set5.json"
    assert evaluate("--model", "bicubic", "--dataset", SET5, "--scale", "4", "--json", report) == 0
    result = json.loads(report.read_text())["datasets"][0]
    assert result["name"] == "Set5" and result["count"] == {"psnr": 5, "ssim": 5}
    assert result["mean"]["psnr"] == pytest.approx(28.42, abs=0.01)
    table = capsys.readouterr().out
    assert "PSNR-Y" in table and f"{result['mean']['psnr']:.2f}" in table and f"{result['mean']['ssim']:.4f}" in table


def test_set5_lr_pack_of_matlab_gives_the_same_table(tmp_path: Path) -> None:
    made, packed = tmp_path / "made.json", tmp_path / "packed.json"
    assert evaluate("--model", "bicubic", "-d", SET5, "-s", "4", "--metrics", "psnr", "--json", made) == 0
    assert evaluate("--model", "bicubic", "-d", SET5, "-s", "4", "--metrics", "psnr", "--lr-dir", SET5_LR_PACK,
                    "--json", packed) == 0
    scores = [[i["scores"] for i in json.loads(p.read_text())["datasets"][0]["images"]] for p in (made, packed)]
    assert scores[0] == scores[1]


def test_tiny_network_per_image_rows_csv_and_saved_sr(small_set: Path, tiny_checkpoint: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = evaluate("--weights", tiny_checkpoint, "-d", small_set, "-v", "--rgb", "--csv", tmp_path / "r.csv",
                    "--save-sr", tmp_path / "sr", "--tile", "0")
    assert code == 0
    out = capsys.readouterr().out
    assert "tiny.safetensors x4" in out and "PSNR-RGB" in out and "one.png" in out and "Small (mean)" in out
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [(r["dataset"], r["image"]) for r in rows] == [
        ("Small", "one.png"), ("Small", "two.png"), ("Small", "(mean)")]
    assert float(rows[2]["psnr"]) == pytest.approx((float(rows[0]["psnr"]) + float(rows[1]["psnr"])) / 2)
    assert read_image(tmp_path / "sr" / "Small" / "one.png").shape == (40, 48, 3)
    assert read_image(tmp_path / "sr" / "Small" / "two.png").shape == (44, 36)  # grey stays grey, mod-cropped

    # The saved images, scored as an SR folder, give the same numbers.
    assert evaluate("--sr-dir", tmp_path / "sr" / "Small", "-d", small_set, "-s", "4", "--rgb",
                    "--csv", tmp_path / "again.csv") == 0
    again = list(csv.DictReader((tmp_path / "again.csv").open()))
    assert [r["psnr"] for r in again] == [r["psnr"] for r in rows]


def test_bad_image_fails_the_run_but_the_others_are_scored(small_set: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (small_set / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    sr_dir = tmp_path / "sr"
    write_image(sr_dir / "one.png", read_image(small_set / "one.png"))
    write_image(sr_dir / "two.png", RNG.integers(0, 256, (12, 12), dtype=np.uint8))
    code = evaluate("--sr-dir", sr_dir, "-d", small_set, "-s", "4", "-v", "--json", tmp_path / "r.json")
    assert code == 1
    captured = capsys.readouterr()
    assert "Small: skipped on broken.png:" in captured.err and "Small: skipped on two.png: SR image" in captured.err
    images = json.loads((tmp_path / "r.json").read_text())["datasets"][0]["images"]
    assert [i["scores"] for i in images] == [{}, {"psnr": "inf", "ssim": 1.0}, {}]
    assert "inf*" in captured.out  # a mean over fewer images than the dataset has is marked


def test_missing_ma_model_is_one_clear_line_and_psnr_still_reported(small_set: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert evaluate("--model", "bicubic", "-s", "4", "-d", small_set, "--metrics", "psnr,ma") == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and "ma failed on one.png, two.png" in errors[0] and MODEL_ENV in errors[0]
    mean_row = captured.out.splitlines()[-1].split()
    assert mean_row[0] == "Small" and mean_row[-1] == "-" and float(mean_row[2]) > 0


@pytest.mark.parametrize("args, message", [
    (["--model", "bicubic"], "--model bicubic needs --scale"),
    (["--model", "bicubic", "-s", "4", "--metrics", "psnr,lpips"], "unknown metric lpips"),
    (["--model", "bicubic", "-s", "4", "--lr-dir", "a", "--lr-dir", "b"], "--lr-dir given 2 times for 1 datasets"),
    (["--sr-dir", "a"], "--sr-dir needs --scale"),
    (["--model", "bicubic", "-s", "4", "--lr-dir", "a", "--sr-dir", "b"], "exclude each other"),
])
def test_wrong_options_are_one_line_errors(small_set: Path, args: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate("-d", small_set, *args) == 2
    assert message in capsys.readouterr().err


def test_scale_must_match_the_model(small_set: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate("--weights", tiny_checkpoint, "-d", small_set, "-s", "2") == 2
    assert "does not match the model, which upscales x4" in capsys.readouterr().err


def test_empty_dataset_folder_is_a_clear_error(
    small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Empty").mkdir()
    assert evaluate("--model", "bicubic", "-s", "4", "-d", small_set, "-d", tmp_path / "Empty") == 2
    captured = capsys.readouterr()
    assert "Empty HR folder" in captured.err and "holds no images" in captured.err
    assert captured.out == ""  # nothing was scored

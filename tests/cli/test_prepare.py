"""`esrgan prepare` writes mod-cropped HR and MATLAB-bicubic LR pairs, and aligned sub-images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from esrgan.cli.main import main
from esrgan.imaging.io import read_image, write_image
from esrgan.imaging.matlab_resize import imresize


def test_pairs_and_subimages(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    hr = np.random.default_rng(0).integers(0, 255, (70, 99, 3)).astype(np.uint8)
    write_image(tmp_path / "in" / "a.png", hr)
    out = tmp_path / "out"
    code = main(["prepare", str(tmp_path / "in"), "-o", str(out), "--scale", "4", "--rounding", "per_pass",
                 "--subimages", "--crop-size", "32", "--step", "16", "--workers", "1", "-q"])
    assert code == 0
    cropped = read_image(out / "hr" / "a.png")
    assert cropped.shape == (68, 96, 3)
    np.testing.assert_array_equal(read_image(out / "lr_x4" / "a.png"), imresize(cropped, scale=0.25))
    hr_subs = sorted(p.name for p in (out / "hr_sub").iterdir())
    assert hr_subs == sorted(p.name for p in (out / "lr_x4_sub").iterdir()) and len(hr_subs) > 1
    assert read_image(out / "lr_x4_sub" / hr_subs[0]).shape == (8, 8, 3)


def test_empty_folder_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["prepare", str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "-q"]) == 2
    assert capsys.readouterr().err.startswith("esrgan: error:")

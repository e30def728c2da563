"""`esrgan sweep` end to end with two tiny RRDBNets: tables and figures written, refusals as one clear line."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from esrgan.archs import RRDBNetSpec
from esrgan.cli.main import main
from tests.evaluation.test_sweep import _one_thread, make_dataset, textured_checkpoint  # noqa: F401


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("cli-sweep")
    return (textured_checkpoint(root / "psnr.safetensors", 1), textured_checkpoint(root / "gan.pth", 2),
            make_dataset(root / "Tiny"))


def sweep(setup: tuple[Path, Path, Path], output: Path, *args: str | Path) -> int:
    a, b, data = setup
    return main(["sweep", "--quiet", "--psnr", str(a), "--gan", str(b), "--dataset", str(data), "-o", str(output),
                 "--tile", "0", "--backend", "torch", *map(str, args)])


def test_writes_tables_and_figures(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    output = tmp_path / "out"
    assert sweep(setup, output, "--alphas", "0,0.5,1", "--crop-image", "bridge", "--crop", "0,0,48") == 0
    assert sorted(p.name for p in output.iterdir()) == [
        "alpha_grid.png", "perception_distortion.png", "sweep.csv", "sweep.json"
    ]
    with open(output / "sweep.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["strategy"], r["alpha"]) for r in rows] == [
        ("network", "0"), ("image", "0"), ("network", "0.5"), ("image", "0.5"), ("network", "1"), ("image", "1")
    ]
    assert list(rows[0])[4:] == ["psnr", "ssim", "rmse", "niqe"]
    assert rows[0]["niqe"] == rows[1]["niqe"] and rows[4]["psnr"] == rows[5]["psnr"]
    document = json.loads((output / "sweep.json").read_text())
    assert document["grid"] == {"dataset": "Tiny", "image": "bridge.png", "x": 0, "y": 0, "size": 48}
    assert document["runtime"]["precision"] == "fp32"  # as `esrgan evaluate`: scores independent of hardware
    for name in ("perception_distortion.png", "alpha_grid.png"):
        with Image.open(output / name) as image:
            assert image.format == "PNG" and 300 <= image.width <= 2000 and 200 <= image.height <= 1000
    assert "wrote" in capsys.readouterr().out


def test_table_is_printed_and_figures_can_be_left_out(setup, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    a, b, data = setup
    code = main(["sweep", "--psnr", str(a), "--gan", str(b), "--dataset", str(data), "-o", str(tmp_path),
                 "--alphas", "0:1:1", "--metrics", "psnr,rmse", "--no-plots", "--tile", "0", "--backend", "torch"])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.csv", "sweep.json"]
    out = capsys.readouterr().out
    assert "network psnr" in out and "image rmse" in out and out.count("Tiny") == 2


def test_earlier_results_are_kept_unless_overwrite(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sweep.csv").write_text("earlier\n")
    assert sweep(setup, tmp_path, "--no-plots") == 2
    assert "sweep.csv" in capsys.readouterr().err and (tmp_path / "sweep.csv").read_text() == "earlier\n"
    assert sweep(setup, tmp_path, "--no-plots", "--overwrite", "--alphas", "0.5", "--metrics", "psnr") == 0
    assert (tmp_path / "sweep.csv").read_text().startswith("dataset,strategy,alpha")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--alphas", "0:1"), "alphas '0:1': write start:stop:step"),
        (("--metrics", "psnr,lpips"), "choose from psnr, ssim, rmse, niqe, ma, pi"),
        (("--crop", "1,2"), "write x,y,size"),
        (("--plot-y", "pi"), "plot axis 'pi' is not among the computed metrics"),
        (("--back-projection", "-1"), ">= 0"),
    ],
)
def test_bad_options_are_one_line(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str], args, message) -> None:
    assert sweep(setup, tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("esrgan: error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_different_architectures_and_empty_dataset(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _, data = setup
    deeper_spec = RRDBNetSpec(4, num_feat=8, num_block=3, num_grow_ch=4)
    deeper = textured_checkpoint(tmp_path / "deeper.pth", 3, deeper_spec)
    assert sweep((a, deeper, data), tmp_path / "out") == 2
    assert "cannot interpolate different architectures" in capsys.readouterr().err
    (tmp_path / "Empty").mkdir()
    assert sweep(setup, tmp_path / "out", "--dataset", tmp_path / "Empty") == 2
    assert "holds no images" in capsys.readouterr().err


def test_missing_matplotlib_is_reported_before_any_work(setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert sweep(setup, tmp_path / "out") == 2
    assert "pip install matplotlib, or pass --no-plots" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

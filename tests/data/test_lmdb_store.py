"""LMDB training data in BasicSR's layout: packed images read back bit-exact, databases written by another
tool load, and an LMDB training set gives the very patches its folder gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from esrgan.cli.main import main
from esrgan.data.datasets import PatchDataset, scan_training_folder
from esrgan.data.lmdb_store import lmdb_contents, read_lmdb_image, write_lmdb
from esrgan.errors import DatasetError
from esrgan.imaging.io import write_image

lmdb = pytest.importorskip("lmdb")


def images(folder: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    made = {
        "rgb": rng.integers(0, 256, (40, 36, 3), dtype=np.uint8),
        "grey": rng.integers(0, 256, (20, 24), dtype=np.uint8),
        "deep": rng.integers(0, 65536, (16, 12, 3), dtype=np.uint16),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in made.items():
        write_image(folder / f"{name}.png", image)
    return made


def test_packed_images_read_back_exactly(tmp_path: Path) -> None:
    made = images(tmp_path / "in")
    database = tmp_path / "train.lmdb"
    assert write_lmdb(sorted((tmp_path / "in").iterdir()), database) == 3
    assert lmdb_contents(database) == {"deep": (12, 16), "grey": (24, 20), "rgb": (36, 40)}
    for name, image in made.items():
        read = read_lmdb_image(database, name)
        assert read.dtype == image.dtype and np.array_equal(read, image)
    with pytest.raises(DatasetError, match="exists"):
        write_lmdb([tmp_path / "in" / "rgb.png"], database)
    with pytest.raises(DatasetError, match="no image under the key 'gone'"):
        read_lmdb_image(database, "gone")


def test_a_database_written_the_basicsr_way_loads(tmp_path: Path) -> None:
    """BasicSR's create_lmdb: cv2-encoded PNG (BGR) under the stem, meta_info `name.png (h,w,c) level`."""
    rgb = np.random.default_rng(1).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    database = tmp_path / "DIV2K_sub.lmdb"
    with lmdb.open(str(database), map_size=1 << 20) as environment, environment.begin(write=True) as txn:
        txn.put(b"0001_s001", cv2.imencode(".png", rgb[..., ::-1])[1].tobytes())
    (database / "meta_info.txt").write_text("0001_s001.png (8,10,3) 1\n")
    assert np.array_equal(read_lmdb_image(database, "0001_s001"), rgb)
    (database / "meta_info.txt").write_text("0001_s001.png 8x10\n")
    with pytest.raises(DatasetError, match=r"meta_info.txt:1: expected"):
        lmdb_contents(database)


def test_an_lmdb_training_set_gives_the_folders_patches(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    (tmp_path / "in").mkdir()
    for index in range(3):
        write_image(tmp_path / "in" / f"{index:04d}.png", rng.integers(0, 256, (64 + 8 * index, 72, 3), np.uint8))
    assert main(["prepare", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--lmdb", "--workers", "1",
                 "-q"]) == 0
    out = tmp_path / "out"
    from_folders = PatchDataset(scan_training_folder(out / "hr", out / "lr_x4", 4, 32), 4, 32)
    from_lmdb = PatchDataset(scan_training_folder(out / "hr.lmdb", out / "lr_x4.lmdb", 4, 32), 4, 32)
    assert len(from_lmdb) == 3
    for key in [(0, 0, 0), (1, 3, 5), (2, 7, 1)]:
        for a, b in zip(from_folders[key], from_lmdb[key], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(DatasetError, match="smaller than the 96-pixel HR patch"):
        scan_training_folder(out / "hr.lmdb", None, 4, 96)


WORKERS_SCRIPT = """
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from esrgan.data.datasets import PatchDataset, scan_training_folder

dataset = PatchDataset(scan_training_folder(Path(sys.argv[1]), None, 4, 16), 4, 16)
keys = [(0, 0, position) for position in range(4)]
expected = [dataset[key][1] for key in keys]  # the parent opens the database before the workers fork
loader = DataLoader(dataset, batch_size=1, sampler=keys, num_workers=2, multiprocessing_context="fork")
for (_, hr), want in zip(loader, expected, strict=True):
    torch.testing.assert_close(hr[0], want, rtol=0, atol=0)
torch.testing.assert_close(dataset[keys[0]][1], expected[0], rtol=0, atol=0)  # the parent's handle still works
print("ok")
"""


def test_dataloader_workers_forked_after_the_parent_opened_the_database_read_it(tmp_path: Path) -> None:
    """Run in a fresh interpreter: forking DataLoader workers from the test process, which holds OpenVINO's
    and OpenMP's thread pools by then, is what the test would otherwise be testing."""
    images(tmp_path / "in")
    write_lmdb([tmp_path / "in" / "rgb.png"], tmp_path / "hr.lmdb")
    result = subprocess.run([sys.executable, "-c", WORKERS_SCRIPT, str(tmp_path / "hr.lmdb")],
                            capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr

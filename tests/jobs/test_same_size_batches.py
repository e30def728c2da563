"""Consecutive images of one size go through the network together (`--batch N`, or a GPU's free memory),
with the same outputs as one at a time; an unreadable image or a failed batch stays one image's trouble."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest

from esrgan.errors import ImageReadError
from esrgan.inference.pipeline import same_size_runs
from esrgan.inference.upscaler import Upscaler
from esrgan.jobs.images import decoded, image_of
from esrgan.jobs.plan import Job
from tests.jobs.test_big_jobs import outputs, picture, upscale

pytestmark = pytest.mark.usefixtures("one_thread")


def loaded(value: np.ndarray | Exception) -> Future[np.ndarray]:
    future: Future[np.ndarray] = Future()
    if isinstance(value, Exception):
        future.set_exception(value)
    else:
        future.set_result(value)
    return future


def test_only_neighbours_of_one_shape_and_pixel_type_are_grouped_up_to_the_limit() -> None:
    small, large = np.zeros((4, 6, 3), np.uint8), np.zeros((8, 6, 3), np.uint8)
    deep = np.zeros((4, 6, 3), np.uint16)
    images: list[np.ndarray | Exception] = [small, small, small, large, small, ImageReadError("x: truncated"),
                                            small, deep, small]
    jobs = [Job(Path(f"{i}.png"), Path(f"out/{i}.png")) for i in range(len(images))]
    runs = list(same_size_runs(decoded(zip(jobs, map(loaded, images), strict=True)), image_of, lambda h, w, d: 2))
    assert [[int(job.source.stem) for job, _ in run] for run in runs] == [[0, 1], [2], [3], [4], [5], [6], [7], [8]]
    assert isinstance(runs[4][0][1], ImageReadError)
    one_at_a_time = list(same_size_runs(decoded(zip(jobs, map(loaded, images), strict=True)), image_of,
                                       lambda h, w, d: 1))
    assert [len(run) for run in one_at_a_time] == [1] * len(images)


def same_size_folder(folder: Path) -> None:
    for i in range(5):
        picture(folder / f"{i}.png", seed=i)
    picture(folder / "2b.png", seed=7, size=(9, 14))  # another size between them, in name order
    (folder / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


def test_batched_outputs_equal_one_at_a_time_and_a_bad_file_is_skipped(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    same_size_folder(tmp_path / "in")
    calls: list[int] = []
    batch = Upscaler.upscale_batch
    monkeypatch.setattr(Upscaler, "upscale_batch", lambda self, images, *a: calls.append(len(images))
                        or batch(self, images, *a))
    assert upscale(tmp_path / "in", "-o", tmp_path / "one", "--weights", tiny_checkpoint, "--batch", "1") == 1
    assert calls == []
    assert upscale(tmp_path / "in", "-o", tmp_path / "three", "--weights", tiny_checkpoint, "--batch", "3") == 1
    assert calls == [3, 2]  # 0 1 2 | 2b | 3 4 | 9 (unreadable)
    one, three = outputs(tmp_path / "one"), outputs(tmp_path / "three")
    assert sorted(three) == ["0.png", "1.png", "2.png", "2b.png", "3.png", "4.png"]
    assert all(np.array_equal(one[name], three[name]) for name in one)
    assert capsys.readouterr().err.count("9.png") == 2


def test_a_failed_batch_is_retried_image_by_image(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    same_size_folder(tmp_path / "in")
    monkeypatch.setattr(Upscaler, "upscale_batch", lambda self, *a: (_ for _ in ()).throw(MemoryError("batch")))
    assert upscale(tmp_path / "in", "-o", tmp_path / "three", "--weights", tiny_checkpoint, "--batch", "3") == 1
    assert upscale(tmp_path / "in", "-o", tmp_path / "one", "--weights", tiny_checkpoint, "--batch", "1") == 1
    one, three = outputs(tmp_path / "one"), outputs(tmp_path / "three")
    assert sorted(three) == sorted(one) and len(one) == 6
    assert all(np.array_equal(one[name], three[name]) for name in one)

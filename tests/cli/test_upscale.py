"""`esrgan upscale` end to end with a tiny checkpoint: files, folders, globs, errors, no silent overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.cli.main import main
from esrgan.imaging.io import read_image
from esrgan.options import UpscaleOptions

RNG = np.random.default_rng(0)


def make_image(path: Path, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = RNG.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(), mode).save(path)
    return path


def upscale(*args: str | Path) -> int:
    return main(["upscale", "--quiet", "--precision", "fp32", *map(str, args)])


def test_single_file_to_named_output(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = make_image(tmp_path / "photo.png")
    assert upscale(source, "-o", tmp_path / "big.png", "--weights", tiny_checkpoint) == 0
    assert read_image(tmp_path / "big.png").shape == (40, 48, 3)


def test_folder_and_glob_into_output_folder(tmp_path: Path, tiny_checkpoint: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_image(folder / "a.png", mode="RGBA")
    make_image(folder / "b.jpg", mode="L")
    (folder / "readme.txt").write_text("not an image, not picked from a folder")
    other = make_image(tmp_path / "c.png")
    code = upscale(folder, str(tmp_path / "c*.png"), "-o", tmp_path / "out", "--weights", tiny_checkpoint,
                   "--suffix", "_x4")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x4.png", "b_x4.jpg", "c_x4.png"]
    assert read_image(tmp_path / "out" / "a_x4.png").shape == (40, 48, 4)
    assert read_image(tmp_path / "out" / "b_x4.jpg").shape == (40, 48)
    assert other.exists()


def test_outscale_and_ext(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = make_image(tmp_path / "photo.png")
    assert upscale(source, "-o", tmp_path / "out", "--weights", tiny_checkpoint, "--outscale", "2",
                   "--ext", "webp") == 0
    assert read_image(tmp_path / "out" / "photo.webp").shape == (20, 24, 3)


def test_unreadable_file_is_skipped_and_others_processed(tmp_path: Path, tiny_checkpoint: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    good = make_image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code = upscale(bad, good, "-o", tmp_path / "out", "--weights", tiny_checkpoint)
    assert code == 1
    assert (tmp_path / "out" / "good.png").exists() and not (tmp_path / "out" / "bad.png").exists()
    assert "bad.png" in capsys.readouterr().err


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = make_image(tmp_path / "photo.png")
    target = tmp_path / "big.png"
    target.write_bytes(b"keep me")
    assert upscale(source, "-o", target, "--weights", tiny_checkpoint) == 1
    assert target.read_bytes() == b"keep me"
    assert upscale(source, "-o", target, "--weights", tiny_checkpoint, "--overwrite") == 0
    assert read_image(target).shape == (40, 48, 3)


def test_output_never_replaces_its_input(tmp_path: Path, tiny_checkpoint: Path) -> None:
    source = make_image(tmp_path / "photo.png")
    before = source.read_bytes()
    assert upscale(source, "-o", tmp_path, "--weights", tiny_checkpoint, "--overwrite") == 1
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["EMPTY"], "no images or videos in this folder"), (["MISSING"], "no such file"),
     (["IMAGE", "--model", "no-such-model"], "no-such-model"),
     (["IMAGE", "--weights", "NOISE"], "noise.pth"), (["IMAGE", "--outscale", "-1"], "--outscale")],
)
def test_bad_inputs_give_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str],
                                        message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "noise.pth").write_bytes(RNG.bytes(256))
    image = make_image(tmp_path / "photo.png")
    names = {"EMPTY": tmp_path / "empty", "MISSING": tmp_path / "absent.png", "IMAGE": image,
             "NOISE": tmp_path / "noise.pth"}
    code = upscale(*[names.get(a, a) for a in arguments], "-o", tmp_path / "out")
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(error) == 1 and error[0].startswith("esrgan: error:") and message in error[0]
    assert "Traceback" not in error[0]


def test_backend_option_reaches_the_upscaler(tmp_path: Path, tiny_checkpoint: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import esrgan.api as command

    seen: dict[str, object] = {}
    real = command.load_model

    def spy(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(command, "load_model", spy)
    source = make_image(tmp_path / "photo.png")
    assert upscale(source, "-o", tmp_path / "big.png", "--weights", tiny_checkpoint, "--backend", "torch",
                   "--batch", "2") == 0
    options = seen["options"]
    assert isinstance(options, UpscaleOptions) and options.backend == "torch" and options.batch == 2


def test_a_failed_write_is_reported_and_the_other_images_still_written(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outputs are encoded on a background thread: its failures must still reach the user and the exit code."""
    first, second = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png")
    (tmp_path / "out" / "a.png").mkdir(parents=True)  # a folder where the image should go
    code = upscale(first, second, "-o", tmp_path / "out", "--weights", tiny_checkpoint, "--overwrite")
    assert code == 1
    assert read_image(tmp_path / "out" / "b.png").shape == (40, 48, 3)
    err = capsys.readouterr().err
    assert "a.png" in err and "1 of 2 images failed" in err


def test_a_restoration_model_keeps_the_size_and_takes_any_image_size(tmp_path: Path) -> None:
    """A 1× model pixel-unshuffles by 4: 1×1, 2×2 and 5×7 inputs are padded (replicated where reflection
    cannot) and cropped back; --outscale still resizes its output."""
    from esrgan.archs import RRDBNetSpec
    from esrgan.weights.io import save_checkpoint

    spec = RRDBNetSpec(scale=1, num_feat=8, num_block=1, num_grow_ch=4)
    weights = tmp_path / "restore.safetensors"
    save_checkpoint(weights, spec.build().state_dict(), spec)
    folder = tmp_path / "in"
    folder.mkdir()
    for width, height in ((1, 1), (2, 2), (5, 7)):
        Image.fromarray(RNG.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(folder / f"{width}x{height}.png")
    assert upscale(folder, "-o", tmp_path / "out", "--weights", weights) == 0
    for size in ((1, 1), (2, 2), (5, 7)):
        assert read_image(tmp_path / "out" / f"{size[0]}x{size[1]}.png").shape == (size[1], size[0], 3)
    assert upscale(folder / "5x7.png", "-o", tmp_path / "x2.png", "--weights", weights, "--outscale", "2") == 0
    assert read_image(tmp_path / "x2.png").shape == (14, 10, 3)

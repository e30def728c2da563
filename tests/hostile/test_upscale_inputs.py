"""Hostile inputs to `esrgan upscale`: each gives one clear line, the rest of the job is still done, and
nothing partial is left.

Every case makes the bad thing for real (a FIFO, a link loop, a 1×1 image, a file where a folder should be)
and runs the command as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esrgan.archs import RRDBNetSpec
from esrgan.cli.main import main
from esrgan.imaging.io import read_image
from esrgan.weights.io import save_checkpoint

RNG = np.random.default_rng(5)


def image(path: Path, width: int = 6, height: int = 5, channels: int = 3, dtype: type = np.uint8) -> Path:
    top = np.iinfo(dtype).max
    pixels = RNG.integers(0, top, (height, width, channels), dtype=np.int64).astype(dtype)
    if dtype == np.uint16 or channels == 2:
        import cv2

        if channels == 2:  # grey + alpha through Pillow, which writes the LA form
            Image.fromarray(pixels).save(path)
        else:
            cv2.imwrite(str(path), pixels[..., ::-1])
    else:
        Image.fromarray(pixels.squeeze(axis=2) if channels == 1 else pixels).save(path)
    return path


def upscale(*args: object) -> int:
    return main(["upscale", "--quiet", "--precision", "fp32", "--backend", "torch", *map(str, args)])


def lines(captured: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in captured.readouterr().err.splitlines() if line.strip()]


@pytest.fixture
def x2_model(tmp_path: Path) -> Path:
    """A ×2 RRDBNet with Real-ESRGAN's pixel-unshuffle input (sizes must be padded to even)."""
    spec = RRDBNetSpec(scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    path = tmp_path / "x2.safetensors"
    save_checkpoint(path, spec.build().state_dict(), spec)
    return path


# --- inputs that are not regular image files --------------------------------------------------------------------


def test_a_fifo_named_like_an_image_is_skipped_not_waited_on(tmp_path: Path, x2_model: Path) -> None:
    """Given by name and found in a folder: a FIFO would block a read forever. Run in a subprocess with a
    time limit, so that a regression fails instead of hanging the suite."""
    folder = tmp_path / "in"
    folder.mkdir()
    image(folder / "good.png")
    os.mkfifo(folder / "pipe.png")
    command = [sys.executable, "-m", "esrgan", "upscale", "--quiet", "--backend", "torch", str(folder),
               str(folder / "pipe.png"), "-o", str(tmp_path / "out"), "--weights", str(x2_model)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.count("pipe.png: not a regular file") == 1  # listed once, though named twice
    assert (tmp_path / "out" / "good.png").is_file() and not (tmp_path / "out" / "pipe.png").exists()
    assert "Traceback" not in result.stderr


def test_a_glob_matching_a_link_loop_and_a_broken_link_still_does_the_rest(
    tmp_path: Path, x2_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image(tmp_path / "a.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    assert upscale(str(tmp_path / "*.png"), "-o", tmp_path / "out", "--weights", x2_model) == 1
    err = lines(capsys)
    assert any("loop.png: cannot be opened" in line for line in err)
    assert any("dangling.png: a broken symbolic link" in line for line in err)
    assert any(line.endswith("2 of 3 images failed") for line in err)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_a_missing_input_among_others_is_reported_and_the_others_done(
    tmp_path: Path, x2_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image(tmp_path / "a.png")
    assert upscale(tmp_path / "a.png", tmp_path / "gone.png", "-o", tmp_path / "out", "--weights", x2_model) == 1
    assert any("gone.png: no such file or folder" in line for line in lines(capsys))
    assert (tmp_path / "out" / "a.png").is_file()


# --- image sizes and formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 2])
def test_any_image_size_works_with_pixel_unshuffle_models(tmp_path: Path, scale: int) -> None:
    spec = RRDBNetSpec(scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    weights = tmp_path / "m.safetensors"
    save_checkpoint(weights, spec.build().state_dict(), spec)
    folder = tmp_path / "in"
    folder.mkdir()
    sizes = [(1, 1), (2, 2), (1, 7), (3, 1), (9, 6)]
    for width, height in sizes:
        image(folder / f"{width}x{height}.png", width, height)
    assert upscale(folder, "-o", tmp_path / "out", "--weights", weights) == 0
    for width, height in sizes:
        assert read_image(tmp_path / "out" / f"{width}x{height}.png").shape == (height * scale, width * scale, 3)


def test_tga_in_gives_tga_out_and_ext_tga_writes(tmp_path: Path, x2_model: Path) -> None:
    source = tmp_path / "sprite.tga"
    Image.fromarray(RNG.integers(0, 255, (5, 6, 4), dtype=np.uint8)).save(source)
    assert upscale(source, "-o", tmp_path / "out", "--weights", x2_model) == 0
    assert read_image(tmp_path / "out" / "sprite.tga").shape == (10, 12, 4)
    assert upscale(image(tmp_path / "b.png"), "-o", tmp_path / "tga", "--ext", "tga", "--weights", x2_model) == 0
    assert read_image(tmp_path / "tga" / "b.tga").shape == (10, 12, 3)


def test_jpg_from_rgba_and_16_bit_inputs_is_converted_with_a_note(
    tmp_path: Path, x2_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rgba, deep = image(tmp_path / "rgba.png", channels=4), image(tmp_path / "deep.png", dtype=np.uint16)
    assert upscale(rgba, deep, "-o", tmp_path / "out", "--ext", "jpg", "--weights", x2_model) == 0
    err = " ".join(lines(capsys))
    assert "rgba.jpg: .jpg cannot hold the alpha channel: composited onto white" in err
    assert "deep.jpg: .jpg cannot hold 16-bit data: reduced to 8 bits" in err
    assert read_image(tmp_path / "out" / "rgba.jpg").shape == (10, 12, 3)
    assert read_image(tmp_path / "out" / "deep.jpg").dtype == np.uint8


def test_grey_with_alpha_stays_grey_with_alpha(tmp_path: Path, x2_model: Path) -> None:
    source = image(tmp_path / "la.png", channels=2)
    assert read_image(source).shape == (5, 6, 2)
    assert upscale(source, "-o", tmp_path / "out.png", "--weights", x2_model) == 0
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "LA" and written.size == (12, 10)


def test_an_animated_image_says_only_its_first_frame_is_used(
    tmp_path: Path, x2_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [Image.fromarray(RNG.integers(0, 255, (5, 6, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert upscale(tmp_path / "anim.webp", "-o", tmp_path / "out.png", "--weights", x2_model) == 0
    assert any("anim.webp is animated (3 frames); only the first frame is upscaled" in line for line in lines(capsys))


# --- option values and output places: refused before any work ------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--outscale", "nan"], "--outscale must be a number in (0, 64]"),
        (["--outscale", "inf"], "--outscale must be a number in (0, 64]"),
        (["--outscale", "100000"], "--outscale must be a number in (0, 64]"),
        (["--outscale", "0"], "--outscale must be a number in (0, 64]"),
        (["--max-pixels", "inf"], "--max-pixels must be a finite number >= 1"),
        (["--max-pixels", "nan"], "--max-pixels must be a finite number >= 1"),
        (["--max-pixels", "-1"], "--max-pixels must be a finite number >= 1"),
        (["--tile", "-1"], "--tile must be >= 0"),
        (["--tile-pad", "-5"], "--tile-pad must be >= 0"),
        (["--batch", "0"], "--batch must be >= 1"),
        (["--alpha", "nan", "--blend-with", "x.pth"], "--alpha must be a finite number"),
        (["--suffix", "/../../x"], "--suffix '/../../x': must not contain /"),
        (["--ext", "gif"], "--ext gif: choose auto or one of"),
    ],
)
def test_bad_option_values_are_refused_before_anything_runs(
    tmp_path: Path, option: list[str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import esrgan.api as command

    monkeypatch.setattr(command, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    source = image(tmp_path / "a.png")
    assert upscale(source, "-o", tmp_path / "out", *option) == 2
    err = lines(capsys)
    assert len(err) == 1 and err[0].startswith("esrgan: error:") and message in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("FILE", "is a file, not a folder"),
        ("FILE/sub", "is a file, so no folder can be made inside it"),
        ("FILE/x.png", "is a file, not a folder"),
        ("many.png", "names an image file, but there are 2 inputs; give a folder"),
    ],
)
def test_an_output_that_cannot_hold_the_results_is_refused_before_any_work(
    tmp_path: Path, output: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import esrgan.api as command

    monkeypatch.setattr(command, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "file.txt").write_text("a regular file")
    target = tmp_path / output.replace("FILE", "file.txt")
    sources = [image(tmp_path / "a.png"), image(tmp_path / "b.png")]
    inputs = sources[:1] if output == "FILE/x.png" else sources
    assert upscale(*inputs, "-o", target, "--overwrite") == 2
    err = lines(capsys)
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "many.png").exists() and (tmp_path / "file.txt").read_text() == "a regular file"


# --- Ctrl-C -------------------------------------------------------------------------------------------------------


def start_and_wait_for(tmp_path: Path, x2_model: Path, marker: str) -> tuple[subprocess.Popen[bytes], list[bytes]]:
    """`esrgan upscale` of a small then a large image (many tiles), in a subprocess, once `marker` appears on its
    stderr (tqdm's bars name the image being upscaled)."""
    import threading
    import time

    image(tmp_path / "a.png")
    image(tmp_path / "b.png", 320, 320)
    command = [sys.executable, "-m", "esrgan", "upscale", "--backend", "torch", "--tile", "8", "--tile-pad", "2",
               str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(tmp_path / "out"),
               "--weights", str(x2_model)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    chunks: list[bytes] = []
    threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stderr.read(64), b"")),  # type: ignore
                     daemon=True).start()
    deadline = time.monotonic() + 120
    while marker.encode() not in b"".join(chunks):
        assert time.monotonic() < deadline and process.poll() is None, b"".join(chunks).decode()[-2000:]
        time.sleep(0.05)
    return process, chunks


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_between_tiles_and_a_second_one_aborts(tmp_path: Path, x2_model: Path, presses: int) -> None:
    """The first Ctrl-C stops at the next tile boundary, keeping the finished image; a second aborts at once.
    Neither leaves a partial output."""
    import signal
    import time

    process, chunks = start_and_wait_for(tmp_path, x2_model, "b.png")
    pressed = time.monotonic()
    for _ in range(presses):
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
    # A second press that lands after the first stop already finished meets the interpreter's own exit: -SIGINT.
    assert process.wait(timeout=30) in ((130,) if presses == 1 else (130, -signal.SIGINT))
    assert time.monotonic() - pressed < 20
    time.sleep(0.2)
    err = b"".join(chunks).decode()
    assert "SIGINT: stopping after the current tile" in err and "Traceback" not in err
    assert (tmp_path / "out" / "a.png").is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    if presses == 1:
        assert "1 of 2 images not done" in err


def test_help_and_option_mistakes_answer_without_loading_pytorch(tmp_path: Path) -> None:
    """`esrgan --help`, `esrgan upscale --help` and a bad option value never import PyTorch (seconds of
    start-up): only the chosen sub-command's module is imported, and it loads PyTorch after its checks."""
    script = textwrap.dedent(f"""
        import contextlib, io, sys
        from esrgan.cli.main import main
        for argv in (["--help"], ["upscale", "--help"]):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                main(argv)
        with contextlib.redirect_stderr(io.StringIO()):
            code = main(["upscale", {str(tmp_path / "a.png")!r}, "-o", {str(tmp_path / "out")!r}, "--outscale", "nan"])
        print(code, "torch" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False"], result.stderr[-2000:]

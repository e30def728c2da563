"""The OpenVINO backend (optional, `pip install openvino`): the torch module converted to an OpenVINO graph
and compiled for the CPU at the chosen precision, once per input shape.

OpenVINO fuses each convolution with its LeakyReLU, where eager PyTorch runs it as a separate pass over
memory; RRDBNet is converted in its concatenation-free form (`archs.rrdbnet.concat_free`, the form its record's
`inference_module` gives), whose sums OpenVINO
also fuses into the convolutions; and its task-stealing thread pool keeps its speed on a busy machine,
where OpenMP's barriers stall whenever one thread is descheduled.

Shapes: the graph is compiled for each input shape it meets (half a second), because a static-shape build
runs faster than one dynamic-shape build (README, "Performance"). Tiles come grouped by shape
(`tiling.tile_batches`), so an image costs one build per distinct tile shape, and a batch of whole images
(`Upscaler.upscale_batch`) one for its full calls and one for the remainder; the batch is a dimension of the
shape like any other. The last `MAX_SHAPES` builds are kept, and the one not in use gives back its
activation memory.

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
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from esrgan.archs.spec import ModelSpec
from esrgan.errors import ConfigError
from esrgan.weights.cache import cache_dir, cache_warning

PRECISION_HINTS = {torch.float32: "f32", torch.bfloat16: "bf16", torch.float16: "f16"}
MAX_SHAPES = 4
GRAPH_FORM = "concat-free-2"
"""Names the graph rewrite in the cache key, so a graph cached before a rewrite changed is not reused."""


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError as error:
        raise ConfigError("--backend openvino needs the openvino package: pip install openvino") from error
    return openvino


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, model: nn.Module, spec: ModelSpec, dtype: torch.dtype) -> None:
        self._ov = _import_openvino()
        self._core = self._ov.Core()
        self.model = model.eval().cpu()
        self.spec = spec
        self.config = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[dtype], "PERFORMANCE_HINT": "LATENCY"}
        self._graph: Any = None  # the converted graph with dynamic shapes; None until the first call
        self._versions: tuple[int, ...] | None = None
        self._builds: OrderedDict[tuple[int, ...], tuple[Any, Any]] = OrderedDict()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self._graph is None or self._parameter_versions() != self._versions:
            self.reload()
        array = batch.detach().cpu().float().contiguous().numpy()
        output = self._request_for(array.shape).infer({0: array}, share_outputs=False)[0]
        return torch.from_numpy(output).clamp_(0, 1)

    def reload(self) -> None:
        """Convert the module as it is now (weights are constants of the compiled graph)."""
        first = self._versions is None
        cached = cache_dir() / "openvino" / self._graph_key() / "model.xml"
        self._graph = self._read_cached(cached) if first else None
        if self._graph is None:
            self._graph = self._convert()
            if first:
                self._keep(self._graph, cached.parent)
        self._builds.clear()
        self._versions = self._parameter_versions()

    def _request_for(self, shape: tuple[int, ...]) -> Any:
        """The inference request of the build for `shape`, compiled on first use (the last used is last)."""
        if self._builds and next(reversed(self._builds)) != shape:
            next(reversed(self._builds.values()))[0].release_memory()
        if shape in self._builds:
            self._builds.move_to_end(shape)
        else:
            graph = self._graph.clone()
            graph.reshape(list(shape))
            compiled = self._core.compile_model(graph, "CPU", self.config)
            self._builds[shape] = (compiled, compiled.create_infer_request())
            if len(self._builds) > MAX_SHAPES:
                self._builds.popitem(last=False)
        return self._builds[shape][1]

    def _parameter_versions(self) -> tuple[int, ...]:
        # Every in-place write to a tensor (`load_state_dict`, `copy_`) increments its `_version`; weights
        # created under `torch.inference_mode()` have no counter, and count as never changing.
        return tuple(0 if t.is_inference() else t._version for t in self.model.state_dict().values())

    def _graph_key(self) -> str:
        digest = hashlib.sha256(repr((self.spec, GRAPH_FORM, self._ov.__version__, torch.__version__)).encode())
        for name, tensor in self.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().float().contiguous().numpy().tobytes())
        return digest.hexdigest()[:32]

    def _convert(self) -> Any:
        side = 16 * self.spec.input_multiple
        example = torch.rand(1, self.spec.in_channels, side, side)
        module = self.spec.inference_module(self.model)
        with torch.no_grad():
            return self._ov.convert_model(module, example_input=example,
                                          input=[(-1, self.spec.in_channels, -1, -1)])

    def _read_cached(self, path: Path) -> Any:
        """The cached graph, or None when there is none or it is corrupt (a truncated `.bin`, a garbage `.xml`):
        a corrupt entry is removed, so that the fresh conversion replaces it. The cache is only an optimisation."""
        try:
            if not path.is_file():
                return None
            with path.open("rb") as handle:
                looks_like_xml = handle.read(64).lstrip().startswith(b"<")
            if looks_like_xml:  # else OpenVINO tries every frontend on it and logs their parse errors
                return self._core.read_model(path)
        except (OSError, RuntimeError):
            pass
        cache_warning(f"the cached OpenVINO graph in {path.parent} is unreadable or corrupt; converting again")
        shutil.rmtree(path.parent, ignore_errors=True)
        return None

    def _keep(self, graph: Any, folder: Path) -> None:
        """Save the graph into the cache atomically (a folder renamed into place). When the cache cannot be
        written (read-only, full disk, a file where its folder should be), the job goes on without it."""
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(prefix=".part-", dir=folder.parent))
        except OSError as error:
            reason = error.strerror or error
            cache_warning(f"cannot write the model cache in {folder.parent} ({reason}); running without it")
            return
        try:
            # fp32 weights: compressing them to fp16 would change the fp32 results.
            self._ov.save_model(graph, temp / "model.xml", compress_to_fp16=False)
            # mkdtemp makes the folder private (0700): honour the umask, as an ordinary mkdir would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o777 & ~umask)
            os.replace(temp, folder)
        except (OSError, RuntimeError) as error:  # OpenVINO reports a full disk as a RuntimeError
            if (folder / "model.xml").is_file():
                return  # another process (a worker beside this one) cached the same graph first: nothing lost
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            cache_warning(f"cannot write the model cache in {folder.parent} ({reason}); running without it")
        finally:
            shutil.rmtree(temp, ignore_errors=True)


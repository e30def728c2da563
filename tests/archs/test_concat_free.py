"""The concatenation-free RRDBNet computes the canonical network's function, for every scale and width."""

from __future__ import annotations

import pytest
import torch

from esrgan.archs import RRDBNetSpec
from esrgan.archs.rrdbnet.concat_free import ConcatFreeRRDB, without_concatenation
from tests.conftest import tiny_rrdbnet


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Tiny convolutions on one intra-op thread (see `one_thread`)."""


def with_random_biases(model: torch.nn.Module) -> torch.nn.Module:
    """The paper's init zeroes every bias; trained weights do not, and the rewrite must move them right."""
    for name, tensor in model.named_parameters():
        if name.endswith("bias"):
            tensor.data.uniform_(-0.1, 0.1)
    return model


@pytest.mark.parametrize("fold_skip", [True, False])
@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_same_output_as_the_canonical_network(scale: int, fold_skip: bool) -> None:
    spec = RRDBNetSpec(scale=scale, num_feat=12, num_block=3, num_grow_ch=6)
    model = with_random_biases(tiny_rrdbnet(spec, seed=scale)).eval()
    rewritten = without_concatenation(model, fold_skip)
    x = torch.rand(1, 3, 16, 12)
    with torch.no_grad():
        expected, actual = model(x), rewritten(x)
    assert all(isinstance(block, ConcatFreeRRDB) for block in rewritten.body)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max() <= 1e-5


def test_graph_has_no_concatenation_and_the_input_model_is_untouched() -> None:
    model = tiny_rrdbnet(RRDBNetSpec(scale=4, num_feat=8, num_block=1, num_grow_ch=4))
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    graph = torch.jit.trace(without_concatenation(model), torch.rand(1, 3, 8, 8)).inlined_graph
    assert "aten::cat" not in str(graph)
    assert "aten::cat" in str(torch.jit.trace(model.eval(), torch.rand(1, 3, 8, 8)).inlined_graph)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())


def test_dense_blocks_have_no_skip_addition_of_their_own() -> None:
    """The skip connections are folded into the weights: an RRDB adds only its pieces' sums and its outer skip."""
    model = tiny_rrdbnet(RRDBNetSpec(scale=4, num_feat=8, num_block=1, num_grow_ch=4))
    rrdb = without_concatenation(model).body[0]
    graph = str(torch.jit.trace(rrdb, torch.rand(1, 8, 6, 6)).inlined_graph)
    piece_sums = 0 + 1 + 2 + 3 + 4  # conv k of a dense block reads k pieces
    assert graph.count("aten::add") == 3 * piece_sums + 1

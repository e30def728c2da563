"""The inference benchmark runs end to end, its GPU section included (on the CPU, as no GPU is here).

Only the script is checked, not its figures: a 1-block network on tiny images, one repetition. Without this
the GPU section, which runs only where a GPU is lent, could break unseen.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from types import ModuleType

import pytest
import torch

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "benchmarks" / "inference.py"
TINY_ARGS = ["--blocks", "1", "--sizes", "32,16", "--large", "24x40", "--large-tile", "16", "--repeats", "1",
             "--matmul-side", "128", "--gpu-matmul-side", "128", "--gpu-tile", "16", "--gpu-batches", "1,2"]


@pytest.fixture(scope="module")
def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inference_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| case")]


def test_flop_count_is_the_papers_35_85_mflop_per_pixel(benchmark: ModuleType) -> None:
    model, spec, _ = benchmark.load_model(blocks=23)
    assert benchmark.flop_per_lr_pixel(model, spec) == 35_853_696


def test_cpu_section_prints_a_row_per_case(benchmark: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmark.main([*TINY_ARGS, "--backends", "torch"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[0] for row in rows] == ["32×32", "32×32", "16×16", "16×16", "24×40", "24×40"]
    assert all(float(row[2]) > 0 for row in rows)
    assert "s/pixel =" in rows[-2][-1] and "× the 32² one" in rows[-2][-1]
    assert "6 tile(s)" in rows[-1][-1]


def test_gpu_section_runs_on_any_device(benchmark: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    parser_args = argparse.Namespace(repeats=1, sizes=[16], gpu_matmul_side=128, gpu_tile=16, gpu_batches=[1, 2])
    model, spec, _ = benchmark.load_model(blocks=1)
    benchmark.accelerator_section(model, spec, torch.device("cpu"), parser_args)
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert [row[0] for row in rows] == ["16×16", "16×16", "1× 16×16", "2× 16×16"]
    assert "tiles/s" in rows[-1][-1]
    assert "TFLOP/s" in out

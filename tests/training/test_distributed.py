"""DDP on CPU (gloo, 2 processes): both ranks end with the same generator, equal to one process trained on
the same global batch."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from esrgan.hardware import resolve_device
from esrgan.training.config import config_from_dict
from esrgan.training.distributed import init_distributed
from esrgan.training.loop import train
from tests.training.helpers import tiny_raw_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, world_size: int, port: int, raw: dict, out: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    result = train(config_from_dict(raw))
    torch.save(result.generator.state_dict(), Path(out) / f"rank{rank}.pt")


def run_ranks(raw: dict, out: Path, world_size: int = 2) -> list[dict[str, torch.Tensor]]:
    mp.start_processes(_rank, args=(world_size, free_port(), raw, str(out)), nprocs=world_size,
                       start_method="spawn")
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(world_size)]


def initial_generator(raw: dict) -> dict[str, torch.Tensor]:
    """G as `train` initialises it, before any step."""
    config = config_from_dict(raw)
    torch.manual_seed(config.seed)
    return config.generator_spec.build().state_dict()


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_a_single_process_trains_where_inference_would_run(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    """Outside torchrun the process is rank 0 of 1, on the device `esrgan.hardware.resolve_device` picks."""
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    dist = init_distributed(device)
    assert (dist.rank, dist.world_size, dist.is_main, dist.enabled) == (0, 1, True, False)
    assert dist.device == resolve_device(device)


def test_two_processes_equal_one_process_with_the_same_global_batch(tmp_path: Path, small_images: Path) -> None:
    raw = tiny_raw_config(tmp_path / "ddp", small_images, data={"batch_size": 4}, training={"iterations": 3},
                          checkpoint={"every": 3})
    rank0, rank1 = run_ranks(raw, tmp_path)
    single = train(config_from_dict(raw | {"output_dir": str(tmp_path / "single")})).generator.state_dict()
    initial = initial_generator(raw)
    for key in single:
        assert torch.equal(rank0[key], rank1[key]), f"{key} differs between the ranks"
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-4, atol=1e-6)
    assert max((single[k] - initial[k]).abs().max().item() for k in single) > 1e-3, "it must have trained"
    # Only rank 0 wrote the checkpoint and the released weights.
    assert [p.name for p in (tmp_path / "ddp" / "run" / "checkpoints").iterdir()] == ["iter_00000003.pt"]
    assert (tmp_path / "ddp" / "run" / "net_g.safetensors").is_file()


def test_the_gan_stage_keeps_the_ranks_identical(tmp_path: Path, gan_images: Path) -> None:
    """G and C are both DDP-wrapped. (C's batch norm and the RaGAN averages E[C(x)] use each rank's half of the
    batch, as in the authors' and BasicSR's multi-GPU training, so this run is not the single-process one.)"""
    raw = tiny_raw_config(tmp_path / "ddp", gan_images, "gan", data={"batch_size": 4}, training={"iterations": 2},
                          checkpoint={"every": 2})
    rank0, rank1 = run_ranks(raw, tmp_path)
    initial = initial_generator(raw)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"{key} differs between the ranks"
    assert max((rank0[k] - initial[k]).abs().max().item() for k in rank0) > 1e-4, "it must have trained"

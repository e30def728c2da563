"""The share of a run each launched process takes: from torchrun's or Slurm's variables, disjoint, complete."""

from __future__ import annotations

import pytest

from esrgan.errors import ConfigError
from esrgan.jobs.shard import Shard


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, Shard(0, 1, 0)),
    ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, Shard(3, 4, 1)),
    ({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"}, Shard(5, 8, 1)),
    ({"RANK": "0", "WORLD_SIZE": "2", "SLURM_PROCID": "7", "SLURM_NTASKS": "8"}, Shard(0, 2, 0)),  # torchrun first
])
def test_the_share_comes_from_the_launcher(environ: dict[str, str], expected: Shard) -> None:
    assert Shard.from_environment(environ) == expected


@pytest.mark.parametrize("environ", [{"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "x", "WORLD_SIZE": "2"},
                                     {"SLURM_PROCID": "-1", "SLURM_NTASKS": "4"}])
def test_impossible_launcher_variables_are_one_line(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Shard.from_environment(environ)


def test_shares_are_disjoint_and_complete_whatever_the_order_given() -> None:
    items = [f"img_{i:03d}.png" for i in range(101)]
    shares = [Shard(rank, 7).take(list(reversed(items))) for rank in range(7)]
    assert sorted(sum(shares, [])) == items
    assert max(map(len, shares)) - min(map(len, shares)) <= 1

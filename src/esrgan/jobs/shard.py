"""Which share of a run's jobs this process takes when a launcher starts one per GPU or per node.

`torchrun` sets RANK / WORLD_SIZE / LOCAL_RANK, Slurm's `srun` SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID.
Every process lists the same inputs and takes every `count`-th job of the sorted list from its `rank` on:
the shares are disjoint and together complete, with no scheduler and no messages between the processes. A
node that failed is re-run with `--skip-existing`, which then costs only what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from esrgan.errors import ConfigError

T = TypeVar("T")

_LAUNCHERS = (("RANK", "WORLD_SIZE", "LOCAL_RANK"), ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"))


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    count: int = 1
    local_rank: int = 0
    """The process's number on its machine: the GPU it takes."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Shard:
        """The share a launcher's variables describe; the whole run when none are set."""
        for rank_name, count_name, local_name in _LAUNCHERS:
            if rank_name in environ and count_name in environ:
                try:
                    rank, count = int(environ[rank_name]), int(environ[count_name])
                    local = int(environ.get(local_name, "0"))
                except ValueError:
                    raise ConfigError(f"{rank_name}={environ[rank_name]!r}, {count_name}={environ[count_name]!r}: "
                                      "not whole numbers") from None
                if not 0 <= rank < count or local < 0:
                    raise ConfigError(f"{rank_name}={rank} does not lie in [0, {count_name}={count})")
                return cls(rank, count, local)
        return cls()

    @property
    def enabled(self) -> bool:
        return self.count > 1

    def take(self, items: Sequence[T]) -> list[T]:
        """This process's items: every `count`-th of `items` sorted by their text, from the `rank`-th on; all of
        them, in their own order, when the run is not shared."""
        if not self.enabled:
            return list(items)
        ordered = sorted(items, key=str)
        return ordered[self.rank :: self.count]

    def describe(self) -> str:
        return f"process {self.rank + 1} of {self.count}"

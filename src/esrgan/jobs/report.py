"""Each job's outcome, as it happens: counted for the summary at the end and, when asked, written as one JSON
line per input (`--report FILE.jsonl`), flushed at once so that a killed run leaves a readable prefix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

Status = Literal["done", "skipped", "failed", "not_done"]
"""done: written by this run; skipped: already there (`--skip-existing`); failed: with a reason; not_done:
left by a stop request."""


@dataclass(frozen=True)
class Outcome:
    source: Path | str
    target: Path | None
    status: Status
    reason: str | None = None
    seconds: float | None = None
    """Seconds this run spent upscaling the input (the network and the conversions around it)."""

    def as_record(self) -> dict[str, object]:
        return {"input": str(self.source), "output": None if self.target is None else str(self.target),
                "status": self.status, "reason": self.reason,
                "seconds": None if self.seconds is None else round(self.seconds, 3)}


class Report:
    """The outcomes of one run (of one process, under a launcher)."""

    def __init__(self, path: Path | None = None) -> None:
        self.outcomes: list[Outcome] = []
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self._file is not None:
            self._file.write(json.dumps(outcome.as_record()) + "\n")
            self._file.flush()

    def count(self, status: Status) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def failures(self) -> list[str]:
        return [outcome.reason or str(outcome.source) for outcome in self.outcomes if outcome.status == "failed"]

    def summary(self, noun: str) -> str:
        """One line: how many were done, skipped and failed, ending "N of M <noun> failed" when any did."""
        total = len(self.outcomes)
        parts = [f"{self.count('done')} done"]
        if skipped := self.count("skipped"):
            parts.append(f"{skipped} skipped (already there)")
        if not_done := self.count("not_done"):
            parts.append(f"{not_done} not done")
        if failed := self.count("failed"):
            parts.append(f"{failed} of {total} {noun} failed")
        else:
            parts[0] = f"{total} {noun}: {parts[0]}"
        return ", ".join(parts)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Report:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

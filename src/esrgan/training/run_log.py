"""What a training run reports, from rank 0: `train.log`, `metrics.jsonl`, TensorBoard and a progress bar."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
from tqdm import tqdm

from esrgan.atomic import atomic_write
from esrgan.errors import ImageWriteError
from esrgan.imaging.io import write_image
from esrgan.training.config import TrainConfig, dump_config

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


class RunLog:
    """What rank 0 reports: a text log (`train.log`), one JSON line per record (`metrics.jsonl`), TensorBoard
    scalars and images when the `tensorboard` package is installed, and a progress bar with ETA and losses."""

    def __init__(self, run_dir: Path, config: TrainConfig, *, enabled: bool, start: int) -> None:
        self.enabled = enabled
        self.write_failed = False
        self.run_dir = run_dir
        self.writer: SummaryWriter | None = None
        self.bar: tqdm[Any] | None = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / "config.yaml", lambda temp: temp.write_text(dump_config(config), encoding="utf-8"))
        self.text = open(run_dir / "train.log", "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self.started = time.monotonic()
        self.start_iteration = start
        if config.logging.progress_bar:
            self.bar = tqdm(total=config.training.iterations, initial=start, desc=config.name, unit="it",
                            dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        if config.logging.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional dependency
            except ImportError:
                self.message("tensorboard is not installed (pip install tensorboard): logging to train.log and "
                             "metrics.jsonl only")
            else:
                self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        self._append(self.text, line)
        (self.bar.write if self.bar is not None else print)(line)

    def scalars(self, iteration: int, values: dict[str, float], prefix: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        record = {"iteration": iteration, **{prefix + k: v for k, v in values.items()}, "elapsed_s": round(elapsed, 2)}
        self._append(self.jsonl, json.dumps(record))
        shown = " ".join(f"{prefix}{k} {v:.4g}" for k, v in values.items())
        if self.bar is not None:
            self.bar.update(iteration - self.bar.n)
        if prefix:  # validation: worth a line on the console too
            self.message(f"iter {iteration} {shown}")
        else:
            rate = (iteration - self.start_iteration) / max(elapsed, 1e-9)
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} iter {iteration} {shown} ({rate:.3f} it/s)"
            self._append(self.text, line)
            if self.bar is not None:
                self.bar.set_postfix_str(shown, refresh=False)
            else:
                print(line, flush=True)
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(prefix + key, value, iteration)

    def samples(self, iteration: int, names: list[str], images: list[np.ndarray]) -> None:
        if not self.enabled:
            return
        folder = self.run_dir / "samples" / f"iter_{iteration:08d}"
        for name, image in zip(names, images):
            try:
                write_image(folder / f"{name}.png", image, overwrite=True)
            except ImageWriteError as error:
                self._cannot_write(str(error))
            if self.writer is not None:
                self.writer.add_image(f"val/{name}", image, iteration, dataformats="HWC")

    def _append(self, handle: TextIO, line: str) -> None:
        """A line added to a log file. A failed write (a full disk, a lost mount) is said once on stderr and
        the run goes on: losing log lines must not cost the training; the checkpoint saves say whether the disk
        still holds what matters."""
        try:
            handle.write(line + "\n")
            handle.flush()
        except OSError as error:
            self._cannot_write(f"{handle.name}: {error.strerror or error}")

    def _cannot_write(self, reason: str) -> None:
        if not self.write_failed:
            self.write_failed = True
            print(f"esrgan: warning: cannot write the run's log ({reason}); training goes on, and this is said "
                  "once", file=sys.stderr)

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
        for handle in (self.text, self.jsonl):
            try:
                handle.close()
            except OSError:  # the lines it still held could not be written: said once already
                pass

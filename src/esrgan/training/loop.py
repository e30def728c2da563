"""The training loop: build everything from a `TrainConfig`, then repeat `train_step` and keep the books.

Read top to bottom, `train` does:
1. check every input (data folders, image sizes, pretrained weights, run folder) before any training;
2. build G (from the stage-1 weights in stage 2), and in the GAN stage C and the VGG19 of L_percep;
3. restore the whole state from the newest readable checkpoint with `resume` (a config that changed what
   that state depends on is refused in step 1, see `esrgan.training.checkpoint.CHANGEABLE_ON_RESUME`);
4. loop: a batch, `train_step`, learning-rate schedule, EMA, loss check, logs, validation, checkpoints;
5. stop at `training.iterations`, at `training.max_minutes`, or on Ctrl-C / SIGTERM, saving a checkpoint.

A NaN or infinite loss stops the run at once with `TrainingDivergedError`, without saving: the last good
checkpoint stays the newest one.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm

from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.spec import ModelSpec
from esrgan.archs.vgg import VGG19
from esrgan.atomic import atomic_write
from esrgan.data.datasets import PatchDataset, TrainingSampler, scan_training_folder
from esrgan.errors import CheckpointError, ConfigError, DownloadError, EsrganError
from esrgan.imaging.io import write_image
from esrgan.interrupts import StopRequest
from esrgan.training.checkpoint import (
    check_resume_config,
    latest_checkpoint,
    newest_readable_state,
    remove_leftovers,
    save_training_state,
)
from esrgan.training.config import TrainConfig, config_to_dict, dump_config
from esrgan.training.distributed import Distributed, init_distributed, shutdown
from esrgan.training.losses import GeneratorLossWeights, PerceptualLoss
from esrgan.training.step import Networks, Objective, Optimizers, train_step
from esrgan.training.validation import load_validation_set, validate
from esrgan.weights.layouts import load_checkpoint
from esrgan.weights.vgg import load_vgg19_weights, resolve_vgg19_weights


class TrainingDivergedError(EsrganError):
    """A loss or a weight became NaN or infinite; the run stopped without overwriting good checkpoints."""


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    iteration: int
    checkpoint: Path | None
    interrupted: bool
    """Stopped by Ctrl-C or SIGTERM (after saving), rather than by the iteration count or the time budget."""
    generator: torch.nn.Module
    """The trained generator as this process holds it (the EMA model when EMA is on), unwrapped."""


def train(config: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train as `config` says, in this process or as one rank of a torchrun launch."""
    dist = init_distributed(config.device)
    try:
        return _train(config, resume, dist)
    finally:
        shutdown(dist)


def _train(config: TrainConfig, resume: bool, dist: Distributed) -> TrainResult:
    # 1. Inputs: every mistake is reported here, before a single iteration.
    run_dir, data, device = config.run_dir, config.data, dist.device
    if data.batch_size % dist.world_size:
        raise ConfigError(f"data.batch_size = {data.batch_size} does not split over {dist.world_size} processes")
    images = scan_training_folder(data.train_hr, data.train_lr, data.scale, data.patch_size)
    val_images = load_validation_set(config.validation.folder, data.scale) if config.validation.folder else []
    resume_from, saved_state, skipped = _checkpoint_to_resume(config, resume)
    spec = config.generator_spec
    if config.stage == "gan":
        _fetch_vgg19_once(config.loss.vgg_weights, dist)

    # 2. Networks, losses, optimisers.
    torch.manual_seed(config.seed)
    generator = spec.build()
    if config.generator.pretrained is not None and resume_from is None:
        _load_pretrained(generator, spec, config.generator.pretrained)
    generator.to(device)
    discriminator, objective = None, Objective(pixel_weight=config.loss.pixel_weight)
    if config.stage == "gan":
        discriminator = VGGStyleDiscriminator(3, config.discriminator.num_feat, data.patch_size).to(device)
        objective = _gan_objective(config, device)
    optim_g = torch.optim.Adam(generator.parameters(), config.optim.lr_g, betas=config.optim.betas)
    optim_d = (torch.optim.Adam(discriminator.parameters(), config.optim.lr_d, betas=config.optim.betas)
               if discriminator is not None else None)
    schedulers = [torch.optim.lr_scheduler.MultiStepLR(o, list(config.optim.milestones), config.optim.gamma)
                  for o in (optim_g, optim_d) if o is not None]
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    ema = (AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(config.training.ema_decay), use_buffers=True)
           if config.training.ema_decay > 0 else None)
    release = ema.module if ema is not None else generator  # what validation sees and checkpoints publish

    # 3. Resume: weights, optimiser moments, schedules, loss scale, EMA, RNG and the iteration (= data order).
    iteration = 0
    if resume_from is not None:
        iteration = _restore(saved_state, resume_from, generator, discriminator, optim_g, optim_d, schedulers,
                             scaler, ema)
        del saved_state  # a copy of everything just restored: as much CPU memory as the networks and Adam

    nets = Networks(dist.wrap(generator), dist.wrap(discriminator) if discriminator else None, discriminator)
    optimizers = Optimizers(optim_g, optim_d, scaler)
    dataset = PatchDataset(images, data.scale, data.patch_size, flip=data.flip, rotate=data.rotate,
                           cache_images=data.cache_images)
    sampler = TrainingSampler(len(images), data.batch_size, config.seed, rank=dist.rank,
                              world_size=dist.world_size, start_iteration=iteration)
    loader = DataLoader(dataset, batch_size=data.batch_size // dist.world_size, sampler=sampler,
                        num_workers=data.workers, pin_memory=device.type == "cuda",
                        persistent_workers=data.workers > 0, worker_init_fn=_ignore_interrupts)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)
    log = RunLog(run_dir, config, enabled=dist.is_main, start=iteration)
    if dist.is_main and (leftovers := remove_leftovers(run_dir)):
        log.message(f"removed {len(leftovers)} partial file(s) of a save that was killed: "
                    f"{', '.join(str(path) for path in leftovers)}")
    for line in skipped:
        log.message(line)
    log.message(f"{'resuming' if resume_from else 'starting'} {config.stage} stage at iteration {iteration} of "
                f"{config.training.iterations}: {spec.describe()}, {len(images)} training images, "
                f"{dist.world_size} process(es) on {device}" + (f", from {resume_from}" if resume_from else ""))

    def state(it: int) -> dict[str, Any]:
        return _training_state(it, config, generator, discriminator, optim_g, optim_d, schedulers, scaler, ema)

    def save(it: int) -> Path | None:
        """Rank 0 writes the checkpoint of iteration `it`; all ranks wait for it, and all stop if it failed."""
        path, failure = None, None
        if not all(torch.isfinite(p).all() for p in release.parameters()):  # the same on every rank
            raise TrainingDivergedError(_diverged(run_dir, it, "the generator's weights are not finite"))
        if dist.is_main:
            try:
                path = save_training_state(run_dir, it, state(it), release.state_dict(), spec,
                                           config.checkpoint.keep_last)
            except CheckpointError as error:
                failure = error
            else:
                log.message(f"saved checkpoint {path}")
        if dist.any(failure is not None)[0]:
            raise failure or CheckpointError("the main process could not save the checkpoint (see its message)")
        return path

    # 4. The loop.
    start, last_saved, interrupted = time.monotonic(), None, False
    budget = config.training.max_minutes * 60 if config.training.max_minutes else math.inf
    batches = iter(loader)
    with StopRequest("after this iteration and saving a checkpoint") as stop_request, log:
        while iteration < config.training.iterations:
            lr, hr = (t.to(device, non_blocking=True) for t in next(batches))
            autocast = torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)
            warming_up = discriminator is not None and iteration < config.training.discriminator_warmup
            logs = train_step(lr, hr, nets, objective, optimizers, autocast, update_generator=not warming_up)
            iteration += 1
            for scheduler in schedulers[1:] if warming_up else schedulers:  # G's schedule counts G's updates
                scheduler.step()
            if ema is not None and not warming_up:
                ema.update_parameters(generator)

            losses = dict(zip(logs, torch.stack(list(logs.values())).tolist()))
            diverged = not all(math.isfinite(v) for v in losses.values())
            stop, out_of_time, diverged = dist.any(
                stop_request.requested, time.monotonic() - start > budget, diverged
            )
            if diverged:
                terms = ", ".join(f"{k} = {v:.4g}" for k, v in losses.items())
                raise TrainingDivergedError(_diverged(run_dir, iteration, f"a loss is not finite ({terms})"))
            done = stop or out_of_time or iteration >= config.training.iterations
            if iteration % config.logging.every == 0 or done:
                log.scalars(iteration, {**losses, "lr_g": optim_g.param_groups[0]["lr"]})
            if val_images and dist.is_main and (iteration % config.validation.every == 0 or done):
                metrics, outputs = validate(release, val_images, data.scale, device, with_niqe=config.validation.niqe)
                log.scalars(iteration, metrics, prefix="val/")
                log.samples(iteration, [im.name for im in val_images], outputs[: config.validation.save_images])
            if iteration % config.checkpoint.every == 0 or done:
                last_saved = save(iteration)
            if stop or out_of_time:
                interrupted = stop
                log.message(f"stopped at iteration {iteration}: "
                            f"{'interrupted' if stop else f'time budget of {config.training.max_minutes} min spent'}")
                break
    return TrainResult(run_dir, iteration, last_saved or latest_checkpoint(run_dir), interrupted, release)


def _checkpoint_to_resume(config: TrainConfig, resume: bool) -> tuple[Path | None, dict[str, Any], list[str]]:
    """The checkpoint to continue from (None for a new run), its state, and a line per damaged one skipped."""
    run_dir = config.run_dir
    if resume:
        path, state, skipped = newest_readable_state(run_dir)
        check_resume_config(state["config"], config_to_dict(config), path)
        return path, state, skipped
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        raise ConfigError(
            f"run folder {run_dir} already holds checkpoints (latest: {latest.name}); pass --resume to continue "
            "that run, or change `name` (or `output_dir`) to start a new one"
        )
    return None, {}, []


def _load_pretrained(generator: torch.nn.Module, spec: ModelSpec, path: Path) -> None:
    found, state = load_checkpoint(path)
    if found != spec:
        raise ConfigError(
            f"generator.pretrained {path} is a {found.describe()}, but the config builds a {spec.describe()}; "
            "make the generator section match the weights"
        )
    generator.load_state_dict(state)


def _fetch_vgg19_once(source: str, dist: Distributed) -> None:
    """Fetch `imagenet` VGG19 weights into the cache on the main process before the others look for them, so
    a multi-process run downloads the file once per machine, and a failed download stops every rank."""
    if source == "random":
        return
    failure: DownloadError | None = None
    if dist.is_main:
        try:
            resolve_vgg19_weights(source)
        except DownloadError as error:
            failure = error
    if dist.any(failure is not None)[0]:
        raise failure or DownloadError("the main process could not fetch the VGG19 weights (see its message)")


def _gan_objective(config: TrainConfig, device: torch.device) -> Objective:
    loss = config.loss
    vgg = VGG19()
    if loss.vgg_weights != "random":
        load_vgg19_weights(vgg, loss.vgg_weights)
    perceptual = PerceptualLoss(vgg, loss.perceptual_layers, criterion=loss.perceptual_criterion).to(device)
    weights = GeneratorLossWeights(loss.perceptual_weight, loss.adversarial_weight, loss.pixel_weight)
    return Objective(loss.pixel_weight, weights, perceptual, loss.average_gan_terms)


def _training_state(
    iteration, config, generator, discriminator, optim_g, optim_d, schedulers, scaler, ema
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "iteration": iteration,
        "config": config_to_dict(config),
        "generator": generator.state_dict(),
        "optimizer_g": optim_g.state_dict(),
        "schedulers": [scheduler.state_dict() for scheduler in schedulers],
        "scaler": scaler.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
    }
    if torch.cuda.is_available():
        state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
    if discriminator is not None:
        state["discriminator"] = discriminator.state_dict()
        state["optimizer_d"] = optim_d.state_dict()
    if ema is not None:
        state["ema"] = ema.state_dict()
    return state


def _restore(state, path, generator, discriminator, optim_g, optim_d, schedulers, scaler, ema) -> int:
    wanted = ["generator", "optimizer_g"] + (["discriminator", "optimizer_d"] if discriminator is not None else [])
    missing = [key for key in wanted + (["ema"] if ema is not None else []) if key not in state]
    if missing:
        raise CheckpointError(
            f"{path} lacks {', '.join(missing)}: it was written with a different stage or EMA setting; "
            "resume with the config of that run, or start a new run"
        )
    try:
        generator.load_state_dict(state["generator"])
        optim_g.load_state_dict(state["optimizer_g"])
        if discriminator is not None:
            discriminator.load_state_dict(state["discriminator"])
            optim_d.load_state_dict(state["optimizer_d"])
        for scheduler, saved in zip(schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        if ema is not None:
            ema.load_state_dict(state["ema"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path} does not fit the networks of this config: {error}") from None
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["iteration"])


def _diverged(run_dir: Path, iteration: int, what: str) -> str:
    latest = latest_checkpoint(run_dir)
    kept = (f"the last good checkpoint, {latest}, is kept; lower optim.lr_g / optim.lr_d (or use fp32), then "
            "continue with --resume") if latest else "no checkpoint had been saved yet; lower the learning rates"
    return f"training diverged at iteration {iteration}: {what}. Stopped without saving: {kept}"


def _ignore_interrupts(_: int) -> None:
    """DataLoader workers leave Ctrl-C to the training process, which finishes the step and saves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class RunLog:
    """What rank 0 reports: a text log (`train.log`), one JSON line per record (`metrics.jsonl`), TensorBoard
    scalars and images when the `tensorboard` package is installed, and a progress bar with ETA and losses."""

    def __init__(self, run_dir: Path, config: TrainConfig, *, enabled: bool, start: int) -> None:
        self.enabled = enabled
        self.run_dir = run_dir
        self.writer = None
        self.bar = None
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
        self.text.write(line + "\n")
        self.text.flush()
        (self.bar.write if self.bar is not None else print)(line)

    def scalars(self, iteration: int, values: dict[str, float], prefix: str = "") -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        record = {"iteration": iteration, **{prefix + k: v for k, v in values.items()}, "elapsed_s": round(elapsed, 2)}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        shown = " ".join(f"{prefix}{k} {v:.4g}" for k, v in values.items())
        if self.bar is not None:
            self.bar.update(iteration - self.bar.n)
        if prefix:  # validation: worth a line on the console too
            self.message(f"iter {iteration} {shown}")
        else:
            rate = (iteration - self.start_iteration) / max(elapsed, 1e-9)
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} iter {iteration} {shown} ({rate:.3f} it/s)"
            self.text.write(line + "\n")
            self.text.flush()
            if self.bar is not None:
                self.bar.set_postfix_str(shown, refresh=False)
            else:
                print(line, flush=True)
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(prefix + key, value, iteration)

    def samples(self, iteration: int, names: list[str], images: list[Any]) -> None:
        if not self.enabled:
            return
        folder = self.run_dir / "samples" / f"iter_{iteration:08d}"
        for name, image in zip(names, images):
            write_image(folder / f"{name}.png", image, overwrite=True)
            if self.writer is not None:
                self.writer.add_image(f"val/{name}", image, iteration, dataformats="HWC")

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
        self.text.close()
        self.jsonl.close()

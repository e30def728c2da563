"""The training loop: build everything from a `TrainConfig`, then repeat `train_step` and keep the books.

Read top to bottom, `train` does:
1. check every input (data folders, image sizes, pretrained weights, run folder) before any training;
2. build G (from the stage-1 weights in stage 2), and in the GAN stage C and the VGG19 of L_percep; then the
   `TrainState` (`esrgan.training.state`): optimisers, schedules, loss scaler (fp16 only), EMA;
3. restore that state from the newest readable checkpoint with `resume` (a config that changed what it
   depends on is refused in step 1, see `esrgan.training.checkpoint.CHANGEABLE_ON_RESUME`), then wrap G
   and C for DDP into the `StepParts` that `train_step` updates;
4. loop: a batch, `train_step`, learning-rate schedule, EMA, loss check, logs (`RunLog`), validation,
   checkpoints;
5. stop at `training.iterations`, at `training.max_minutes`, or on Ctrl-C / SIGTERM, saving a checkpoint.

A NaN or infinite loss stops the run at once with `TrainingDivergedError`, without saving: the last good
checkpoint stays the newest one.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from esrgan.archs.discriminator import VGGStyleDiscriminator
from esrgan.archs.spec import ModelSpec
from esrgan.archs.vgg import VGG19
from esrgan.data.datasets import PatchDataset, TrainingSampler, scan_training_folder
from esrgan.errors import CheckpointError, ConfigError, DownloadError, TrainingDivergedError
from esrgan.hardware import autocast, resolve_precision
from esrgan.interrupts import StopRequest
from esrgan.training.checkpoint import (
    check_resume_config,
    latest_checkpoint,
    newest_readable_state,
    remove_leftovers,
    save_training_state,
)
from esrgan.training.config import LossConfig, TrainConfig, config_to_dict
from esrgan.training.distributed import Distributed, init_distributed, shutdown
from esrgan.training.losses import GeneratorLossWeights, PerceptualLoss
from esrgan.training.run_log import RunLog
from esrgan.training.state import TrainState
from esrgan.training.step import GanParts, StepParts, train_step
from esrgan.training.validation import load_validation_set, validate
from esrgan.weights.layouts import load_checkpoint
from esrgan.weights.vgg import load_vgg19_weights, resolve_vgg19_weights


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
    discriminator, perceptual = None, None
    if config.stage == "gan":
        discriminator = VGGStyleDiscriminator(3, config.discriminator.num_feat, data.patch_size).to(device)
        perceptual = _perceptual_loss(config.loss, device)
    dtype = resolve_precision(config.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)  # bf16 needs no loss scaling
    state = TrainState.start(config, generator, discriminator, scaler)

    # 3. Resume: weights, optimiser moments, schedules, loss scale, EMA, RNG and the iteration (= data order).
    if resume_from is not None:
        state.load_state_dict(saved_state, resume_from)
        del saved_state  # a copy of everything just restored: as much CPU memory as the networks and Adam

    parts = _step_parts(config.loss, state, perceptual, dist)
    mixed_precision = partial(autocast, device, dtype)
    dataset = PatchDataset(images, data.scale, data.patch_size, flip=data.flip, rotate=data.rotate,
                           cache_images=data.cache_images)
    sampler = TrainingSampler(len(images), data.batch_size, config.seed, rank=dist.rank,
                              world_size=dist.world_size, start_iteration=state.iteration)
    loader = DataLoader(dataset, batch_size=data.batch_size // dist.world_size, sampler=sampler,
                        num_workers=data.workers, pin_memory=device.type == "cuda",
                        persistent_workers=data.workers > 0, worker_init_fn=_ignore_interrupts)
    log = RunLog(run_dir, config, enabled=dist.is_main, start=state.iteration)
    if dist.is_main and (leftovers := remove_leftovers(run_dir)):
        log.message(f"removed {len(leftovers)} partial file(s) of a save that was killed: "
                    f"{', '.join(str(path) for path in leftovers)}")
    for line in skipped:
        log.message(line)
    log.message(f"{'resuming' if resume_from else 'starting'} {config.stage} stage at iteration {state.iteration} "
                f"of {config.training.iterations}: {spec.describe()}, {len(images)} training images, "
                f"{dist.world_size} process(es) on {device}" + (f", from {resume_from}" if resume_from else ""))
    if config.stage == "gan":
        log.message(_gan_summary(config.loss))
    release = state.release

    def save() -> Path | None:
        """Rank 0 writes the checkpoint of this iteration; all ranks wait for it, and all stop if it failed."""
        path, failure = None, None
        if not all(torch.isfinite(p).all() for p in release.parameters()):  # the same on every rank
            raise TrainingDivergedError(_diverged(run_dir, state.iteration, "the generator's weights are not finite"))
        if dist.is_main:
            try:
                path = save_training_state(run_dir, state.iteration, state.state_dict(), release.state_dict(), spec,
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
        while state.iteration < config.training.iterations:
            lr, hr = (t.to(device, non_blocking=True) for t in next(batches))
            warming_up = parts.gan is not None and state.iteration < config.training.discriminator_warmup
            logs = train_step(lr, hr, parts, mixed_precision, update_generator=not warming_up)
            state.iteration += 1
            iteration = state.iteration
            for scheduler in state.schedulers[1:] if warming_up else state.schedulers:  # G's counts G's updates
                scheduler.step()
            if state.ema is not None and not warming_up:
                state.ema.update_parameters(generator)

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
                log.scalars(iteration, {**losses, "lr_g": state.optimizer_g.param_groups[0]["lr"]})
            if val_images and dist.is_main and (iteration % config.validation.every == 0 or done):
                metrics, outputs = validate(release, val_images, data.scale, device, with_niqe=config.validation.niqe)
                log.scalars(iteration, metrics, prefix="val/")
                log.samples(iteration, [im.name for im in val_images], outputs[: config.validation.save_images])
            if iteration % config.checkpoint.every == 0 or done:
                last_saved = save()
            if stop or out_of_time:
                interrupted = stop
                log.message(f"stopped at iteration {iteration}: "
                            f"{'interrupted' if stop else f'time budget of {config.training.max_minutes} min spent'}")
                break
    return TrainResult(run_dir, state.iteration, last_saved or latest_checkpoint(run_dir), interrupted, release)


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


def _perceptual_loss(loss: LossConfig, device: torch.device) -> PerceptualLoss:
    """L_percep on the VGG19 that `loss.vgg_weights` names."""
    vgg = VGG19()
    if loss.vgg_weights != "random":
        load_vgg19_weights(vgg, loss.vgg_weights)
    return PerceptualLoss(vgg, loss.perceptual_layers, criterion=loss.perceptual_criterion).to(device)


def _step_parts(loss: LossConfig, state: TrainState, perceptual: PerceptualLoss | None, dist: Distributed) -> StepParts:
    """What `train_step` works on. G and C are wrapped for DDP only now, holding their restored weights: the
    wrapper copies rank 0's weights to the other ranks when it is made."""
    generator = dist.wrap(state.generator)
    if state.critic is None or perceptual is None:  # the PSNR stage
        return StepParts(generator, state.optimizer_g, state.scaler, loss.pixel_weight)
    critic = state.critic
    weights = GeneratorLossWeights(loss.perceptual_weight, loss.adversarial_weight, loss.pixel_weight)
    gan = GanParts(dist.wrap(critic.network), critic.network, critic.optimizer, weights, perceptual,
                   loss.average_gan_terms, loss.gan_type)
    return StepParts(generator, state.optimizer_g, state.scaler, loss.pixel_weight, gan)


def _gan_summary(loss: LossConfig) -> str:
    """The GAN stage's choices in one line: the game, L_percep's layers, the weights of eq. (3)."""
    game = {"relativistic_average": "relativistic average GAN (L_G^Ra, L_D^Ra)",
            "standard": "standard GAN (SRGAN's L_G, L_D)"}[loss.gan_type]
    layers = " + ".join(f"{weight:g}·{name}" for name, weight in loss.perceptual_layers.items())
    return (f"{game}; L_percep = {layers} ({loss.perceptual_criterion}, VGG19 {loss.vgg_weights}); "
            f"weights: percep {loss.perceptual_weight:g}, adversarial {loss.adversarial_weight:g}, "
            f"L1 {loss.pixel_weight:g}")


def _diverged(run_dir: Path, iteration: int, what: str) -> str:
    latest = latest_checkpoint(run_dir)
    kept = (f"the last good checkpoint, {latest}, is kept; lower optim.lr_g / optim.lr_d (or use fp32), then "
            "continue with --resume") if latest else "no checkpoint had been saved yet; lower the learning rates"
    return f"training diverged at iteration {iteration}: {what}. Stopped without saving: {kept}"


def _ignore_interrupts(_: int) -> None:
    """DataLoader workers leave Ctrl-C to the training process, which finishes the step and saves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

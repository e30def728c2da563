"""The loop: exact resume, a clear stop on NaN keeping the last good checkpoint, and every input mistake
reported before the first iteration."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from esrgan.archs import SRResNetSpec
from esrgan.errors import CheckpointError, ConfigError, DatasetError, DownloadError, TrainingDivergedError
from esrgan.hardware import resolve_precision
from esrgan.training.checkpoint import list_checkpoints, load_training_state
from esrgan.training.config import TrainConfig, config_from_dict
from esrgan.training.loop import train
from esrgan.weights.layouts import load_checkpoint
from tests.training.helpers import tiny_config, tiny_raw_config, write_images


def loss_records(run_dir: Path) -> dict[int, dict[str, float]]:
    """Training-loss records of metrics.jsonl by iteration, without the clock."""
    records = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "l_g_pix" in record or "l_d" in record:
            records[record.pop("iteration")] = {k: v for k, v in record.items() if k != "elapsed_s"}
    return records


def assert_states_equal(first: object, second: object, where: str = "state") -> None:
    if isinstance(first, torch.Tensor):
        assert torch.equal(first, second), where
    elif isinstance(first, dict):
        assert first.keys() == second.keys(), where
        for key in first:
            assert_states_equal(first[key], second[key], f"{where}.{key}")
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second)):
            assert_states_equal(a, b, f"{where}[{index}]")
    else:
        assert first == second, where


def test_resume_is_exact_in_the_gan_stage(tmp_path: Path, gan_images: Path) -> None:
    """K iterations straight == K/2, stop, resume, K/2: same losses at every iteration, same final state
    (G, D, EMA, both Adams, schedules), with a milestone and an epoch boundary crossed after the resume."""
    settings = dict(training={"iterations": 6, "ema_decay": 0.5}, optim={"milestones": [4]},
                    checkpoint={"every": 3})
    straight = train(tiny_config(tmp_path / "a", gan_images, "gan", **settings))
    first_half = train(tiny_config(tmp_path / "b", gan_images, "gan", **(settings | {"training": {
        "iterations": 3, "ema_decay": 0.5}})))
    assert first_half.iteration == 3 and not first_half.interrupted
    resumed = train(tiny_config(tmp_path / "b", gan_images, "gan", **settings), resume=True)
    assert straight.iteration == resumed.iteration == 6

    losses_a, losses_b = loss_records(straight.run_dir), loss_records(resumed.run_dir)
    assert sorted(losses_a) == list(range(1, 7)) and {"l_g_percep", "l_g_gan", "l_d"} <= set(losses_a[1])
    assert losses_a == losses_b
    state_a, state_b = load_training_state(straight.checkpoint), load_training_state(resumed.checkpoint)
    assert state_a["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.5)
    for key in ("generator", "discriminator", "ema", "optimizer_g", "optimizer_d", "schedulers", "iteration"):
        assert_states_equal(state_a[key], state_b[key], key)
    # The released generator is the EMA one, in the canonical format.
    _, released = load_checkpoint(straight.run_dir / "net_g.safetensors")
    for key, value in released.items():
        assert torch.equal(value, state_a["ema"][f"module.{key}"])


def test_resume_is_exact_for_the_srgan_baseline(tmp_path: Path, gan_images: Path) -> None:
    """The ablation's baseline trains and resumes exactly too: SRResNet with batch norm (whose running
    statistics are in G's and the EMA's state), the standard GAN, the perceptual loss after the activation."""
    def srgan(folder: Path, iterations: int) -> TrainConfig:
        raw = tiny_raw_config(folder, gan_images, "gan", training={"iterations": iterations, "ema_decay": 0.5},
                              loss={"gan_type": "standard"}, checkpoint={"every": 1})
        raw["generator"] = {"arch": "srresnet", "num_feat": 8, "num_block": 1, "batch_norm": True}
        raw["loss"]["perceptual_layers"] = {"relu1_2": 1.0}
        return config_from_dict(raw)

    straight = train(srgan(tmp_path / "a", 2))
    train(srgan(tmp_path / "b", 1))
    resumed = train(srgan(tmp_path / "b", 2), resume=True)
    assert loss_records(straight.run_dir) == loss_records(resumed.run_dir)
    state_a, state_b = load_training_state(straight.checkpoint), load_training_state(resumed.checkpoint)
    for key in ("generator", "discriminator", "ema", "optimizer_g", "optimizer_d"):
        assert_states_equal(state_a[key], state_b[key], key)
    assert "body.0.bn2.running_var" in state_a["generator"]
    log = (straight.run_dir / "train.log").read_text()
    assert "standard GAN (SRGAN's L_G, L_D); L_percep = 1·relu1_2" in log
    spec, _ = load_checkpoint(straight.run_dir / "net_g.safetensors")
    assert spec == SRResNetSpec(num_feat=8, num_block=1, batch_norm=True)


def test_the_resolved_config_and_the_logs_are_written(tmp_path: Path, small_images: Path) -> None:
    val = write_images(tmp_path / "val", 2, (40, 36), seed=9)
    config = tiny_config(tmp_path, small_images, training={"iterations": 2}, validation={
        "folder": str(val), "every": 2, "save_images": 1})
    result = train(config)
    saved = (result.run_dir / "config.yaml").read_text()
    assert f"train_hr: {small_images}" in saved and "iterations: 2" in saved
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    val_record = next(r for r in records if "val/psnr_y" in r)
    assert val_record["iteration"] == 2 and 0 < val_record["val/ssim_y"] <= 1
    assert (result.run_dir / "samples" / "iter_00000002" / "img00.png").is_file()
    assert not (result.run_dir / "samples" / "iter_00000002" / "img01.png").exists()
    assert "iter 2 l_g_pix" in (result.run_dir / "train.log").read_text()


def test_keep_last_prunes_old_checkpoints(tmp_path: Path, small_images: Path) -> None:
    result = train(tiny_config(tmp_path, small_images, training={"iterations": 5},
                               checkpoint={"every": 1, "keep_last": 2}))
    assert [it for it, _ in list_checkpoints(result.run_dir)] == [4, 5]


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path, small_images: Path) -> None:
    # An absurd learning rate: the first step throws the weights to ±1e30, the next forward overflows.
    config = tiny_config(tmp_path, small_images, optim={"lr_g": 1e30}, training={"iterations": 50},
                         checkpoint={"every": 1})
    with pytest.raises(TrainingDivergedError) as error:
        train(config)
    checkpoints = list_checkpoints(config.run_dir)
    last_good, path = checkpoints[-1]
    message = str(error.value)
    assert f"diverged at iteration {last_good + 1}" in message and "not finite" in message
    assert str(path) in message and "--resume" in message
    state = load_training_state(path)
    assert all(torch.isfinite(value).all() for value in state["generator"].values())


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        ({"data": {"train_hr": "/nonexistent/folder"}}, DatasetError, "/nonexistent/folder does not exist"),
        ({"data": {"patch_size": 48}}, DatasetError, r"6 of 6 images .* smaller than the 48-pixel HR patch"),
        ({"validation": {"folder": "/nonexistent/val"}}, DatasetError, "validation folder"),
        ({"generator": {"pretrained": "/nonexistent/g.safetensors"}}, CheckpointError, "not found"),
    ],
)
def test_bad_inputs_fail_before_training_starts(tmp_path: Path, small_images: Path, change, error, pattern) -> None:
    config = tiny_config(tmp_path, small_images, **change)
    with pytest.raises(error, match=pattern):
        train(config)
    assert not config.run_dir.exists()


def test_pretrained_weights_of_another_shape_are_refused(tmp_path: Path, small_images: Path) -> None:
    stage1 = train(tiny_config(tmp_path / "s1", small_images, training={"iterations": 1}))
    config = tiny_config(tmp_path / "s2", small_images, generator={
        "num_feat": 16, "pretrained": str(stage1.run_dir / "net_g.safetensors")})
    with pytest.raises(ConfigError, match=r"is a RRDBNet x4 \(1 blocks, nf 8.*builds a RRDBNet x4 \(1 blocks, nf 16"):
        train(config)


def test_an_srresnet_file_is_taken_as_pretrained_weights_of_an_srresnet_config(tmp_path: Path,
                                                                               small_images: Path) -> None:
    """The spec a config builds and the one read from a matching file are the same value (it once said
    "is a SRResNet x4 (2 blocks, nf 16), but the config builds a SRResNet x4 (2 blocks, nf 16)")."""
    weights = SRResNetSpec(scale=4, num_feat=16, num_block=2).build().state_dict()
    torch.save({"params": weights}, tmp_path / "srresnet.pth")
    raw = tiny_raw_config(tmp_path / "run", small_images, training={"iterations": 1})
    raw["generator"] = {"arch": "srresnet", "num_feat": 16, "num_block": 2,
                        "pretrained": str(tmp_path / "srresnet.pth")}
    result = train(config_from_dict(raw))
    assert result.iteration == 1


def test_stage_two_starts_from_the_stage_one_generator(tmp_path: Path, gan_images: Path) -> None:
    stage1 = train(tiny_config(tmp_path / "s1", gan_images, training={"iterations": 1}))
    config = tiny_config(tmp_path / "s2", gan_images, "gan", generator={
        "pretrained": str(stage1.run_dir / "net_g.safetensors")}, optim={"lr_g": 1e-12, "lr_d": 1e-12},
        training={"iterations": 1})
    result = train(config)
    _, before = load_checkpoint(stage1.run_dir / "net_g.safetensors")
    for key, value in result.generator.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=1e-9)


def test_an_existing_run_needs_resume_and_resume_needs_a_checkpoint(tmp_path: Path, small_images: Path) -> None:
    config = tiny_config(tmp_path, small_images, training={"iterations": 1})
    with pytest.raises(CheckpointError, match="no checkpoint .* to continue from"):
        train(config, resume=True)
    train(config)
    with pytest.raises(ConfigError, match="already holds checkpoints .* pass --resume"):
        train(config)


def test_tensorboard_gets_the_scalars_when_installed(tmp_path: Path, small_images: Path) -> None:
    pytest.importorskip("tensorboard")
    result = train(tiny_config(tmp_path, small_images, training={"iterations": 1},
                               logging={"tensorboard": True}))
    assert list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_a_vgg_file_that_is_not_vgg19_is_refused_before_training(tmp_path: Path, gan_images: Path) -> None:
    bogus = tmp_path / "vgg19.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bogus)
    config = tiny_config(tmp_path, gan_images, "gan", loss={"vgg_weights": str(bogus)})
    with pytest.raises(CheckpointError, match="not a VGG19"):
        train(config)
    assert not config.run_dir.exists()


def test_imagenet_vgg19_that_cannot_be_fetched_stops_before_training(
    tmp_path: Path, gan_images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESRGAN_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ESRGAN_MIRROR", "http://127.0.0.1:9")  # the discard port: connection refused
    config = tiny_config(tmp_path, gan_images, "gan", loss={"vgg_weights": "imagenet"})
    with pytest.raises(DownloadError, match="vgg19-dcbb9e9d.pth.*starts with dcbb9e9d"):
        train(config)
    assert not config.run_dir.exists()


def test_the_logged_generator_loss_is_eq_3(tmp_path: Path, gan_images: Path) -> None:
    """l_g_total = L_percep + λ·L_G^Ra + η·L_1 with the config's weights, at every iteration."""
    result = train(tiny_config(tmp_path, gan_images, "gan", training={"iterations": 2},
                               loss={"adversarial_weight": 0.5, "pixel_weight": 0.25, "perceptual_weight": 2.0}))
    for record in loss_records(result.run_dir).values():
        expected = 2.0 * record["l_g_percep"] + 0.5 * record["l_g_gan"] + 0.25 * record["l_g_pix"]
        assert record["l_g_total"] == pytest.approx(expected, rel=1e-5)


def test_discriminator_warmup_leaves_the_generator_alone(tmp_path: Path, gan_images: Path) -> None:
    config = tiny_config(tmp_path, gan_images, "gan", training={"iterations": 2, "discriminator_warmup": 2})
    result = train(config)
    torch.manual_seed(config.seed)
    initial = config.generator_spec.build().state_dict()
    for key, value in result.generator.state_dict().items():
        assert torch.equal(value, initial[key]), key
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("l_d" in r and "l_g_total" not in r for r in records if "val/psnr_y" not in r)


@pytest.mark.parametrize("precision", ["bf16", "fp16", "auto"])
def test_mixed_precision_trains_with_finite_losses(tmp_path: Path, small_images: Path, precision: str) -> None:
    """Losses stay finite, and the loss scaler is on exactly when the precision resolves to fp16 (auto picks
    bf16 or fp32 on a CPU, so it never scales there)."""
    config = tiny_config(tmp_path, small_images, precision=precision, training={"iterations": 2})
    result = train(config)
    assert all(math.isfinite(v) for record in loss_records(result.run_dir).values() for v in record.values())
    torch.manual_seed(config.seed)
    initial = config.generator_spec.build().state_dict()
    assert any(not torch.equal(v, initial[k]) for k, v in result.generator.state_dict().items())
    scaling = resolve_precision(precision, torch.device("cpu")) == torch.float16
    assert bool(load_training_state(result.checkpoint)["scaler"]) == scaling == (precision == "fp16")


def test_an_lmdb_training_set_trains_exactly_as_its_folder(tmp_path: Path, small_images: Path) -> None:
    """Same images, same seed: the same losses, whether read from PNG files or from an LMDB database."""
    pytest.importorskip("lmdb")
    from esrgan.data.lmdb_store import write_lmdb

    database = tmp_path / "hr.lmdb"
    write_lmdb(sorted(small_images.glob("*.png")), database)
    from_folder = train(tiny_config(tmp_path / "folder", small_images, training={"iterations": 3}))
    from_lmdb = train(tiny_config(tmp_path / "lmdb", database, training={"iterations": 3}))
    assert loss_records(from_lmdb.run_dir) == loss_records(from_folder.run_dir)

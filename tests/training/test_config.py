"""The config is validated once, at the edge: each mistake names the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.archs import CompactSpec, SRResNetSpec
from esrgan.defaults import DEVICES, PRECISIONS
from esrgan.errors import ConfigError
from esrgan.training.config import (
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    packaged_config_names,
)


def test_packaged_configs_hold_the_papers_settings(tmp_path: Path) -> None:
    assert {"esrgan_x4_psnr", "esrgan_x4_gan", "srresnet_x4_psnr", "demo_psnr", "demo_gan"} <= set(
        packaged_config_names()
    )
    psnr = load_config("esrgan_x4_psnr")
    assert (psnr.stage, psnr.optim.lr_g, psnr.optim.betas, psnr.data.batch_size, psnr.data.patch_size) == (
        "psnr", 2e-4, (0.9, 0.999), 16, 128)
    assert psnr.optim.milestones == (200_000, 400_000, 600_000, 800_000) and psnr.optim.gamma == 0.5
    assert psnr.data.flip and psnr.data.rotate and psnr.loss.pixel_weight == 1.0
    vgg = tmp_path / "vgg19.pth"
    vgg.touch()
    gan = load_config("esrgan_x4_gan", [f"loss.vgg_weights={vgg}"])
    assert (gan.loss.adversarial_weight, gan.loss.pixel_weight, gan.loss.perceptual_layers) == (
        5e-3, 1e-2, {"conv5_4": 1.0})
    assert gan.optim.lr_g == gan.optim.lr_d == 1e-4 and gan.optim.milestones == (50_000, 100_000, 200_000, 300_000)
    assert gan.generator.pretrained is not None
    srresnet = load_config("srresnet_x4_psnr")
    assert srresnet.generator_spec == SRResNetSpec(scale=4, num_feat=64, num_block=16)


@pytest.mark.parametrize(
    ("generator", "scale", "pattern"),
    [
        ({"arch": "srresnet", "num_grow_ch": 32}, 4, r"SRResNet has no hyper-parameter 'num_grow_ch'"),
        ({"arch": "rrdbnet", "num_block": "many"}, 4, r"generator: num_block must be an integer, not 'many'"),
        ({"arch": "rrdbnet", "num_feat": 0}, 4, r"num_feat must be positive"),
        ({"arch": "vdsr"}, 4, r"generator.arch: unknown architecture 'vdsr'; known: rrdbnet, srresnet, compact"),
        ({"arch": "rrdbnet", "scale": 2}, 4, r"generator.scale cannot be set here: the scale is data.scale"),
        ({"arch": "rrdbnet"}, 3, r"data.scale = 3 with generator rrdbnet: RRDBNet supports scales 1, 2, 4, 8, 16"),
        ({"arch": "srresnet"}, 8, r"SRResNet supports scales 2, 3, 4, not 8"),
    ],
)
def test_the_generator_section_is_checked_by_its_record(generator: dict, scale: int, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        config_from_dict({"generator": generator, "data": {"scale": scale, "patch_size": 96}})


def test_the_resolved_config_lists_every_hyper_parameter_and_reads_back() -> None:
    config = config_from_dict({"generator": {"arch": "compact", "num_conv": 4}, "data": {"scale": 2}})
    dumped = config_to_dict(config)
    assert dumped["generator"] == {"arch": "compact", "num_feat": 64, "num_conv": 4, "pretrained": None}
    assert config_from_dict(dumped).generator_spec == config.generator_spec == CompactSpec(scale=2, num_conv=4)


def test_the_paper_gan_config_takes_imagenet_vgg19_and_refuses_a_missing_file(tmp_path: Path) -> None:
    assert load_config("esrgan_x4_gan").loss.vgg_weights == "imagenet"
    with pytest.raises(ConfigError, match="loss.vgg_weights.*no such file.*imagenet"):
        load_config("esrgan_x4_gan", [f"loss.vgg_weights={tmp_path / 'vgg19-missing.pth'}"])


def test_a_misspelt_key_is_named_with_the_allowed_keys_and_the_closest_one() -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict({"trainig": {"iterations": 5}})
    message = str(error.value)
    assert "'trainig'" in message and "did you mean 'training'" in message and "allowed keys" in message
    with pytest.raises(ConfigError, match=r"unknown key data\.'patchsize'.*'patch_size'.*train_hr"):
        config_from_dict({"data": {"patchsize": 64}})


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ({"training": {"iterations": "many"}}, r"training.iterations must be an integer, got 'many'"),
        ({"training": {"iterations": 2.5}}, r"training.iterations must be an integer"),
        ({"data": {"flip": "yes"}}, r"data.flip must be true or false"),
        ({"optim": {"betas": [0.9]}}, r"optim.betas must be a list of 2 values"),
        ({"optim": {"lr_g": "fast"}}, r"optim.lr_g must be a number"),
        ({"stage": "gam"}, r"stage = 'gam' is not allowed; choose one of psnr, gan"),
        ({"precision": "fp8"}, r"precision = 'fp8' is not allowed; choose one of auto, fp32, bf16, fp16"),
        ({"device": "tpu"}, r"device = 'tpu' is not allowed; choose one of auto, cpu, cuda, mps"),
        ({"data": 5}, r"data must be a mapping"),
        ({"data": {"patch_size": 30}}, r"patch_size = 30 must be a positive multiple of data.scale = 4"),
        ({"optim": {"milestones": [5, 3]}}, r"milestones must be increasing"),
        ({"stage": "gan", "data": {"patch_size": 64}}, r"discriminator takes HR patches of 128 or 256"),
        ({"stage": "gan", "loss": {"perceptual_layers": {"conv6_1": 1.0}}}, r"unknown VGG19 layer\(s\) conv6_1"),
        ({"loss": {"gan_type": "wgan"}}, r"loss.gan_type = 'wgan' is not allowed; choose one of "
                                         r"relativistic_average, standard"),
        ({"loss": {"perceptual_layers": {"conv5_4": -1.0}}}, r"perceptual_layers weights must be >= 0"),
        ({"loss": {"perceptual_layers": {"relu5_4": 0.0}}}, r"at least one of them positive"),
        ({"generator": {"arch": "srresnet", "batch_norm": "yes"}}, r"batch_norm must be true or false"),
        ({"generator": {"residual_scale": -0.2}}, r"residual_scale must be positive"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(raw: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        config_from_dict(raw)


def test_device_and_precision_are_the_words_inference_uses() -> None:
    """One vocabulary (`esrgan.defaults`): every device and precision inference takes is a valid config value,
    and training defaults to fp32 on the automatic device."""
    defaults = config_from_dict({})
    assert (defaults.device, defaults.precision) == ("auto", "fp32")
    for device in DEVICES:
        assert config_from_dict({"device": device}).device == device
    for precision in PRECISIONS:
        assert config_from_dict({"precision": precision}).precision == precision


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    config = config_from_dict({"optim": {"lr_g": 1}, "training": {"max_minutes": 2}})
    assert config.optim.lr_g == 1.0 and isinstance(config.optim.lr_g, float) and config.training.max_minutes == 2.0


def test_overrides_use_yaml_values_and_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: a\ntraining:\n  iterations: 10\n")
    config = load_config(path, ["training.iterations=20", "optim.betas=[0.5, 0.9]", "data.cache_images=true"])
    assert (config.training.iterations, config.optim.betas, config.data.cache_images) == (20, (0.5, 0.9), True)
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(path, ["training.iterations"])
    with pytest.raises(ConfigError, match="unknown key training.'iteratons'"):
        load_config(path, ["training.iteratons=3"])


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file, and not a packaged config"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_relative_paths_are_resolved_and_the_resolved_config_round_trips(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = config_from_dict({"data": {"train_hr": "hr"}, "validation": {"folder": "val"}})
    assert config.data.train_hr == tmp_path / "hr" and config.validation.folder == tmp_path / "val"
    assert config_from_dict(config_to_dict(config)) == config
    import yaml

    assert config_from_dict(yaml.safe_load(dump_config(config))) == config


@pytest.mark.parametrize("name", ["..", ".", "a/b", "..\\x", " "])
def test_a_run_name_may_not_leave_the_output_folder(name: str) -> None:
    with pytest.raises(ConfigError, match="must be a plain folder name|name must"):
        config_from_dict({"name": name})


def test_the_ablation_switches_default_to_esrgan_and_are_spelt_out_in_the_resolved_config() -> None:
    """A config written before the switches existed means ESRGAN's choices; the resolved one names them all."""
    config = config_from_dict({"stage": "gan", "generator": {"arch": "rrdbnet"}})
    assert (config.loss.gan_type, config.loss.perceptual_layers) == ("relativistic_average", {"conv5_4": 1.0})
    dumped = config_to_dict(config)
    assert dumped["loss"]["gan_type"] == "relativistic_average"
    assert (dumped["generator"]["residual_scale"], dumped["generator"]["init_scale"]) == (0.2, 0.1)
    srresnet = config_to_dict(config_from_dict({"generator": {"arch": "srresnet", "batch_norm": True}}))
    assert srresnet["generator"]["batch_norm"] is True
    assert config_from_dict(srresnet).generator_spec == SRResNetSpec(batch_norm=True)


def test_a_file_on_a_base_says_only_what_differs(tmp_path: Path) -> None:
    """Sections merge key by key, a mapping value (the layers) is replaced whole, and a generator of another
    arch replaces the base's generator section whole (RRDBNet's num_grow_ch does not leak into SRResNet)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.yaml").write_text(
        "base: esrgan_x4_gan\nname: mine\ngenerator: {arch: srresnet, num_block: 4}\n"
        "loss: {gan_type: standard, perceptual_layers: {relu5_4: 1.0}}\n")
    (tmp_path / "sub" / "deeper.yaml").write_text("base: mine.yaml\ngenerator: {batch_norm: true}\n")
    config = load_config(tmp_path / "sub" / "deeper.yaml", ["optim.lr_g=3.0e-4"])
    assert config.name == "mine" and config.generator_spec == SRResNetSpec(num_block=4, batch_norm=True)
    assert config.loss.perceptual_layers == {"relu5_4": 1.0} and config.loss.gan_type == "standard"
    assert (config.loss.pixel_weight, config.loss.vgg_weights, config.optim.lr_g) == (1e-2, "imagenet", 3e-4)
    assert config.generator.pretrained is None


def test_a_missing_or_looping_base_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: sub/../b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError, match=r"bases form a loop .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: esrgan_x4_gann\n")
    with pytest.raises(ConfigError, match=r"c.yaml: base config esrgan_x4_gann: no such file"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [esrgan_x4_gan]\n")
    with pytest.raises(ConfigError, match=r"base must be the name of a packaged config"):
        load_config(tmp_path / "d.yaml")

"""The zoo is data checked at load time, names resolve forgivingly, and the cache lives where each OS expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from esrgan.defaults import DEFAULT_MODEL
from esrgan.errors import ConfigError, ModelNotFoundError
from esrgan.weights import ncnn
from esrgan.weights.cache import platform_cache_dir
from esrgan.weights.zoo import get_entry, load_zoo

PUBLISHED_SHA256 = {
    "esrgan-x4": "65fece06e1ccb48853242aa972bdf00ad07a7dd8938d2dcbdf4221b59f6372ce",
    "esrgan-psnr-x4": "f372b59f22929e1bc83fa58d78215c96f976de3b2eaeee736da1b348913da6cc",
    "realesrgan-x4plus": "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
    "realesrgan-x2plus": "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
    "realesrgan-x4plus-anime-6b": "f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",
    "realesr-animevideov3": "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
    "realesr-general-x4v3": "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",
    "realesr-general-wdn-x4v3": "1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca",
}


def test_bundled_zoo_has_the_published_models() -> None:
    zoo = load_zoo()
    assert {name: entry.sha256 for name, entry in zoo.items() if name in PUBLISHED_SHA256} == PUBLISHED_SHA256
    assert all(entry.layout in entry.spec.layouts and all(url.startswith("https://") for url in entry.urls)
               for entry in zoo.values())
    assert {entry.licence for name, entry in zoo.items() if name.startswith("esrgan")} == {"Apache-2.0"}
    assert {entry.licence for name, entry in zoo.items() if name.startswith("realesr")} == {"BSD-3-Clause"}


def test_default_model_works_offline() -> None:
    assert get_entry(DEFAULT_MODEL).ncnn is not None


def test_ncnn_stems_agree_with_the_wheel_reader() -> None:
    """Both the zoo and ncnn.py name the wheel's files; they must not drift apart."""
    stems = {name: entry.ncnn for name, entry in load_zoo().items() if entry.ncnn}
    assert stems == ncnn.WHEEL_MODELS


def test_paper_model_spec_has_the_published_parameter_count() -> None:
    model = get_entry("esrgan-x4").spec.build()
    assert sum(p.numel() for p in model.parameters()) == 16_697_987


def test_architectures_differ_where_the_models_do() -> None:
    assert get_entry("realesrgan-x2plus").spec.scale == 2
    assert get_entry("realesrgan-x4plus-anime-6b").spec.num_block == 6
    assert get_entry("esrgan-x4").spec == get_entry("realesrgan-x4plus").spec
    assert get_entry("realesr-general-x4v3").spec == get_entry("realesr-general-wdn-x4v3").spec


def test_compact_models_have_real_esrgans_parameter_counts() -> None:
    """SRVGGNetCompact with 16 convs (animevideov3, "XS") and 32 (general-x4v3, "S"), 64 features each: the
    published fp32 files are 4 bytes a parameter plus under 32 kB of pickle around them."""
    for name, count in (("realesr-animevideov3", 621_424), ("realesr-general-x4v3", 1_213_296)):
        entry = get_entry(name)
        assert sum(p.numel() for p in entry.spec.build().parameters()) == count
        assert entry.size is not None and 0 < entry.size - 4 * count < 32_000


@pytest.mark.parametrize("spelling", ["RealESRGAN_x4plus", " realesrgan-x4plus ", "REALESRGAN-X4PLUS"])
def test_names_accept_the_published_spelling(spelling: str) -> None:
    assert get_entry(spelling).name == "realesrgan-x4plus"


def test_unknown_name_suggests_close_matches_and_lists_all() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        get_entry("realesrgan-x4")
    message = str(caught.value)
    assert "did you mean realesrgan-x4plus" in message
    assert all(name in message for name in load_zoo())


def test_a_name_far_from_all_gets_no_suggestion() -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        get_entry("zzzz")
    assert "did you mean" not in str(caught.value)


GOOD = """
[tiny]
description = "a test model"
arch = "rrdbnet"
scale = 4
in_channels = 3
out_channels = 3
num_feat = 8
num_block = 2
num_grow_ch = 4
layout = "basicsr"
file = "tiny.pth"
url = "https://example.org/tiny.pth"
sha256 = "{sha}"
licence = "MIT"
homepage = "https://example.org"
""".replace("{sha}", "0" * 64)


def write_zoo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zoo.toml"
    path.write_text(text)
    return path


def test_a_valid_custom_zoo_loads(tmp_path: Path) -> None:
    entry = load_zoo(write_zoo(tmp_path, GOOD))["tiny"]
    assert (entry.spec.num_feat, entry.spec.num_block, entry.size, entry.mirrors) == (8, 2, None, ())


@pytest.mark.parametrize(
    ("old", "new", "clue"),
    [
        ("sha256 =", "sha265 =", "unknown key(s) sha265"),
        ('url = "https://example.org/tiny.pth"\n', "", "missing key(s) url"),
        ("scale = 4", 'scale = "4"', "scale must be int"),
        ("scale = 4", "scale = true", "scale must be int"),
        ("num_block = 2", "num_block = 0", "must be positive"),
        ("0" * 64, "0" * 63, "sha256 must be 64 lowercase hex digits"),
        ('"tiny.pth"', '"../../outside.pth"', "file must be a bare file name"),
        ("https://example.org/tiny.pth", "http://example.org/tiny.pth", "https:// URLs"),
        ('layout = "basicsr"', 'layout = "caffe"', "layout must be one of"),
        ('arch = "rrdbnet"', 'arch = "swinir"', "arch must be one of"),
        ("[tiny]", "[Tiny_Model]", "the name must be lowercase"),
        ("[tiny]", 'tiny = "x"\n[other]', "must be a [table]"),
        ("scale = 4", "scale = ", "not valid TOML"),
    ],
)
def test_invalid_zoo_is_refused_naming_the_problem(tmp_path: Path, old: str, new: str, clue: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        load_zoo(write_zoo(tmp_path, GOOD.replace(old, new, 1)))
    assert clue in str(caught.value)


HOME = Path("/home/ada")


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({}, "linux", HOME / ".cache" / "esrgan"),
        ({"XDG_CACHE_HOME": "/var/cache/ada"}, "linux", Path("/var/cache/ada/esrgan")),
        ({"XDG_CACHE_HOME": "relative/cache"}, "linux", HOME / ".cache" / "esrgan"),
        ({}, "darwin", HOME / "Library" / "Caches" / "esrgan"),
        ({"LOCALAPPDATA": "/c/Users/ada/AppData/Local"}, "win32", Path("/c/Users/ada/AppData/Local/esrgan/Cache")),
        ({"ESRGAN_HOME": "/data/models", "XDG_CACHE_HOME": "/var/cache/ada"}, "linux", Path("/data/models")),
        ({"ESRGAN_HOME": "/data/models"}, "win32", Path("/data/models")),
    ],
)
def test_cache_dir_follows_each_platform(environ: dict[str, str], platform: str, expected: Path) -> None:
    assert platform_cache_dir(environ, platform, HOME) == expected

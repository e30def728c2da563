"""The paper's ablation (Sec. 4.4, Fig. 7-9) at a scale that a 2-core CPU runs in about an hour.

    OMP_NUM_THREADS=1 python benchmarks/ablation.py           # the full run: benchmarks/results/ablation/report.md
    OMP_NUM_THREADS=1 python benchmarks/ablation.py --smoke   # every step in a few minutes, tiny iterations
    python benchmarks/ablation.py --vgg-weights /models/vgg19-dcbb9e9d.pth --ma-model /models/ma_model.mat

The columns are the shipped configs, left to right each adding one of the paper's changes to SRGAN:

    srgan_x4                    SRResNet with batch norm, standard GAN, VGG19 relu5_4 (after the activation)
    ablation_x4_bn_removed      batch norm removed
    ablation_x4_ragan           + relativistic average GAN
    ablation_x4_percep_before   + perceptual loss on conv5_4 (before the activation)
    ablation_x4_rrdb            + RRDB instead of residual blocks: ESRGAN

Each is trained as shipped except for the scale (`Scale` below, the same overrides for every column): small
generators, the train-demo images, few iterations. Every column starts from the stage-1 (L1) weights of its
generator, trained here first from the shipped stage-1 config (srgan_x4_psnr, srresnet_x4_psnr,
esrgan_x4_psnr), so the three SRResNet columns share the very same starting weights; data, seeds and
iterations are the same for all. Runs are kept in `--runs` and a finished one is not trained again, so an
interrupted benchmark continues where it stopped.

The report (`--out`: report.md, results.json, crop_grid.png, brightness.png) holds PSNR-Y / SSIM-Y and NIQE
(and Ma / PI with `--ma-model`) on Set5 and Set14, the same crop from every column and the HR image (Fig. 7),
and each output's mean brightness against the HR image's (Fig. 9a). Without ImageNet VGG19 weights the
perceptual loss runs on an untrained VGG19; the report then says that the columns that turn on the
perceptual-loss layer are not a test of the paper's claim.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from esrgan.api import load_model
from esrgan.evaluation.evaluate import BICUBIC, Dataset, Evaluation, EvaluationOptions, bicubic_upscaler, evaluate
from esrgan.evaluation.sweep import most_detailed_window
from esrgan.imaging.color import to_y_channel
from esrgan.imaging.io import read_image
from esrgan.options import UpscaleOptions
from esrgan.training.checkpoint import GENERATOR_FILE, list_checkpoints
from esrgan.training.config import TrainConfig, load_config
from esrgan.training.loop import train

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


@dataclass(frozen=True)
class Column:
    config: str
    label: str
    stage1: str
    """The shipped stage-1 config whose weights the column starts from."""


COLUMNS = (
    Column("srgan_x4", "SRGAN (BN, standard GAN, relu5_4)", "srgan_x4_psnr"),
    Column("ablation_x4_bn_removed", "BN removed", "srresnet_x4_psnr"),
    Column("ablation_x4_ragan", "+ RaGAN", "srresnet_x4_psnr"),
    Column("ablation_x4_percep_before", "+ percep. before act. (conv5_4)", "srresnet_x4_psnr"),
    Column("ablation_x4_rrdb", "+ RRDB (ESRGAN)", "esrgan_x4_psnr"),
)
STAGE1_LABELS = {"srgan_x4_psnr": "stage 1: SRResNet + BN (L1)", "srresnet_x4_psnr": "stage 1: SRResNet (L1)",
                 "esrgan_x4_psnr": "stage 1: RRDBNet (L1)"}
PERCEPTUAL_SWITCH = "ablation_x4_percep_before"
"""The column that changes the VGG layer (relu5_4 -> conv5_4): a test of the paper only with a trained VGG19."""


@dataclass(frozen=True)
class Scale:
    """What makes the paper's runs fit a 2-core CPU; the same for every column."""

    psnr_iterations: int = 700
    psnr_batch: int = 12
    psnr_patch: int = 64
    psnr_lr: float = 1e-3
    gan_iterations: int = 120
    """Generator updates of the GAN stage (the paper: 400k, batch 16)."""
    gan_warmup: int = 40
    """Discriminator-only iterations before them (cheap: no VGG19)."""
    gan_batch: int = 2
    gan_lr: float = 3e-4
    """For G and C (the paper: 1e-4, which would barely move G in so few updates)."""
    srresnet: tuple[str, ...] = ("num_feat=32", "num_block=6")
    rrdbnet: tuple[str, ...] = ("num_feat=32", "num_block=1", "num_grow_ch=16")
    discriminator_feat: int = 16


SMOKE = Scale(psnr_iterations=6, psnr_batch=4, gan_iterations=3, gan_warmup=2)


def trained_vgg(vgg_weights: str) -> bool:
    return vgg_weights != "random"


def run_overrides(scale: Scale, config: TrainConfig, runs: Path, train_hr: Path, vgg_weights: str) -> list[str]:
    """The `--set` values that shrink a shipped config to this benchmark's scale."""
    sizes = scale.srresnet if config.generator.arch == "srresnet" else scale.rrdbnet
    common = [f"output_dir={runs}", f"name={config.name}", "device=cpu", "precision=fp32", "seed=0",
              f"data.train_hr={train_hr}", "data.workers=0", "data.cache_images=true", "validation.folder=null",
              "training.max_minutes=null", "checkpoint.keep_last=1", "logging.every=20", "logging.tensorboard=false",
              "logging.progress_bar=false", *(f"generator.{size}" for size in sizes)]
    if config.stage == "psnr":
        total = scale.psnr_iterations
        return common + [f"data.batch_size={scale.psnr_batch}", f"data.patch_size={scale.psnr_patch}",
                         f"optim.lr_g={scale.psnr_lr}", f"optim.milestones=[{total // 2}, {3 * total // 4}]",
                         f"training.iterations={total}", "training.ema_decay=0.99", f"checkpoint.every={total}"]
    total = scale.gan_warmup + scale.gan_iterations
    # η: the paper's 1e-2 with a trained VGG19; an untrained one does not hold colours, so L1 must (demo_gan).
    pixel_weight = config.loss.pixel_weight if trained_vgg(vgg_weights) else 1.0
    return common + [f"data.batch_size={scale.gan_batch}", f"discriminator.num_feat={scale.discriminator_feat}",
                     f"loss.vgg_weights={vgg_weights}", f"loss.pixel_weight={pixel_weight}",
                     f"optim.lr_g={scale.gan_lr}", f"optim.lr_d={scale.gan_lr}",
                     f"training.iterations={total}", f"training.discriminator_warmup={scale.gan_warmup}",
                     f"checkpoint.every={total}"]


def train_once(name: str, overrides: list[str], log: Callable[[str], None]) -> tuple[Path, float]:
    """Train the shipped config `name` with `overrides` unless a finished run is there; (net_g, minutes)."""
    config = load_config(name, overrides)
    checkpoints = list_checkpoints(config.run_dir)
    if checkpoints and checkpoints[-1][0] >= config.training.iterations:
        log(f"{name}: finished run found in {config.run_dir}")
        return config.run_dir / GENERATOR_FILE, float("nan")
    log(f"{name}: training {config.training.iterations} iterations in {config.run_dir}")
    start = time.monotonic()
    train(config, resume=bool(checkpoints))
    return config.run_dir / GENERATOR_FILE, (time.monotonic() - start) / 60


def score(label: str, weights: Path | None, datasets: list[Dataset], sr_root: Path,
          ma_model: Path | None) -> Evaluation:
    """Scores of one model (None: the bicubic baseline) on `datasets`; its SR images go to `sr_root/label`."""
    metrics = ("psnr", "ssim", "niqe") + (("ma", "pi") if ma_model else ())
    options = EvaluationOptions(scale=4, metrics=metrics, save_sr=sr_root / label, overwrite=True, ma_model=ma_model)
    if weights is None:
        return evaluate(datasets, bicubic_upscaler(4), options, method=BICUBIC)
    upscaler = load_model(weights, options=UpscaleOptions(tile=0, precision="fp32", device="cpu", backend="torch"),
                          progress=False)
    return evaluate(datasets, upscaler.upscale_array, options, method=label)


# --- figures ----------------------------------------------------------------------------------------------------


def hr_image(dataset: Dataset, stem: str) -> np.ndarray:
    path = next(p for p in Path(dataset.hr_dir).iterdir() if p.stem == stem)
    image = read_image(path)
    return image[: image.shape[0] // 4 * 4, : image.shape[1] // 4 * 4]


def sr_image(sr_root: Path, label: str, dataset: Dataset, stem: str) -> np.ndarray:
    return read_image(sr_root / label / dataset.label / f"{stem}.png")


def crop_grid(rows: list[tuple[Dataset, str]], labels: list[tuple[str, str]], sr_root: Path, path: Path,
              size: int = 64) -> list[dict[str, Any]]:
    """Fig. 7: the same crop (the HR image's most detailed `size` square) from HR and every column."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.6 * (len(labels) + 1), 1.75 * len(rows)), dpi=110)
    axes = figure.subplots(len(rows), len(labels) + 1, squeeze=False)
    where = []
    for row, (dataset, stem) in enumerate(rows):
        hr = hr_image(dataset, stem)
        x, y = most_detailed_window(hr, size)
        where.append({"image": f"{dataset.label}/{stem}", "x": x, "y": y, "size": size})
        tiles = [("HR", hr)] + [(title, sr_image(sr_root, key, dataset, stem)) for key, title in labels]
        for column, (title, image) in enumerate(tiles):
            axis = axes[row][column]
            crop = image[y: y + size, x: x + size]
            axis.imshow(crop, cmap="gray" if crop.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=6.5, wrap=True)
            if column == 0:
                axis.set_ylabel(stem, fontsize=7)
    figure.tight_layout(pad=0.3)
    figure.savefig(path)
    return where


def mean_brightness(image: np.ndarray) -> float:
    """Mean of MATLAB's Y (16-235), the brightness Fig. 9(a) compares; a grey image is its own Y."""
    y = image if image.ndim == 2 else to_y_channel(image)
    return float(np.mean(y))


def brightness(datasets: list[Dataset], evaluations: dict[str, Evaluation], labels: list[tuple[str, str]],
               sr_root: Path, path: Path) -> dict[str, dict[str, float]]:
    """Fig. 9(a): each output's mean brightness minus the HR image's, per image; the figure and the numbers."""
    from matplotlib.figure import Figure

    images = [(dataset, Path(result.name).stem) for dataset in datasets
              for result in evaluations[labels[0][0]].datasets[datasets.index(dataset)].images]
    table: dict[str, dict[str, float]] = {}
    for dataset, stem in images:
        name = f"{dataset.label}/{stem}"
        table[name] = {"HR": mean_brightness(hr_image(dataset, stem))}
        for key, _ in labels:
            table[name][key] = mean_brightness(sr_image(sr_root, key, dataset, stem))
    figure = Figure(figsize=(10, 3.6), dpi=110)
    axis = figure.subplots()
    positions = np.arange(len(images))
    for key, title in labels:
        axis.plot(positions, [table[name][key] - table[name]["HR"] for name in table], marker="o", markersize=3,
                  linewidth=1, label=title)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(positions, [name.split("/")[1] for name in table], rotation=60, fontsize=7)
    axis.set_ylabel("mean Y of SR − mean Y of HR")
    axis.set_title("Brightness against the HR image (paper Fig. 9a), Set5 + Set14", fontsize=9)
    axis.legend(fontsize=7, ncol=3)
    figure.tight_layout()
    figure.savefig(path)
    return table


# --- the report -------------------------------------------------------------------------------------------------


def metric_cells(evaluation: Evaluation, metrics: tuple[str, ...]) -> list[str]:
    digits = {"psnr": 2, "ssim": 4, "niqe": 3, "ma": 3, "pi": 3}
    cells = []
    for dataset in evaluation.datasets:
        for metric in metrics:
            value = dataset.mean(metric)
            cells.append("-" if value is None else f"{value:.{digits[metric]}f}")
    return cells


def write_report(out: Path, args: argparse.Namespace, scale: Scale, evaluations: dict[str, Evaluation],
                 labels: dict[str, str], minutes: dict[str, float], table: dict[str, dict[str, float]],
                 crops: list[dict[str, Any]], wall_minutes: float, load: tuple[float, float]) -> None:
    metrics = ("psnr", "ssim", "niqe") + (("ma", "pi") if args.ma_model else ())
    titles = {"psnr": "PSNR-Y", "ssim": "SSIM-Y", "niqe": "NIQE", "ma": "Ma", "pi": "PI"}
    sets = [dataset.name for dataset in next(iter(evaluations.values())).datasets]
    header = ["model", "train min"] + [f"{s} {titles[m]}" for s in sets for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, evaluation in evaluations.items():
        spent = minutes.get(key, float("nan"))
        lines.append("| " + " | ".join([labels[key], "-" if spent != spent else f"{spent:.1f}",
                                        *metric_cells(evaluation, metrics)]) + " |")
    def change(before: str, after: str, index: int, metric: str) -> float:
        a, b = evaluations[before].datasets[index].mean(metric), evaluations[after].datasets[index].mean(metric)
        return float("nan") if a is None or b is None else b - a

    deltas = [f"- {after.label}: " + "; ".join(
        f"{name} PSNR {change(before.config, after.config, index, 'psnr'):+.2f} dB, "
        f"NIQE {change(before.config, after.config, index, 'niqe'):+.3f}" for index, name in enumerate(sets))
        for before, after in zip(COLUMNS, COLUMNS[1:])]
    columns = [c.config for c in COLUMNS]
    shift = {key: [table[name][key] - table[name]["HR"] for name in table] for key in columns}
    bright = ["| column | mean (SR − HR) | mean abs(SR − HR) | largest abs |", "|---|---|---|---|"]
    bright += [f"| {labels[key]} | {np.mean(shift[key]):+.2f} | {np.mean(np.abs(shift[key])):.2f} | "
               f"{np.max(np.abs(shift[key])):.2f} |" for key in columns]
    per_image = ["| image | HR | " + " | ".join(labels[key] for key in columns) + " |",
                 "|" + "---|" * (len(columns) + 2)]
    per_image += [f"| {name} | {row['HR']:.2f} | " + " | ".join(f"{row[key] - row['HR']:+.2f}" for key in columns)
                  + " |" for name, row in table.items()]
    vgg_note = (f"The perceptual loss used the VGG19 weights in `{args.vgg_weights}`." if trained_vgg(args.vgg_weights)
                else "**No ImageNet VGG19 weights were given: the perceptual loss ran on an untrained VGG19.** Its "
                     "features are not the ones the paper's claim is about, so the column that moves the perceptual "
                     f"layer ({labels[PERCEPTUAL_SWITCH]}: relu5_4 -> conv5_4) is **not meaningful** here, and "
                     "neither is the brightness check of Fig. 9(a), which is about that switch. As in `demo_gan`, "
                     "η (L1 weight) is 1 instead of 1e-2, because an untrained VGG19 does not hold colours.")
    text = f"""# The paper's ablation at 2-core-CPU scale

Command: `{args.command}`

Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), torch {torch.__version__},
{torch.get_num_threads()} intra-op thread(s); load average {load[0]:.1f} at the start, {load[1]:.1f} at the end
(other jobs shared the CPU). Wall time: {wall_minutes:.1f} min.

Scale (the same for every column): {", ".join(f"{k} {v}" for k, v in asdict(scale).items())}.

Stage 1 (L1) trains one generator per architecture; every GAN column starts from its architecture's stage-1
weights, the three SRResNet columns from the same file. The paper trains stage 2 for 400k iterations of 16
128-px patches with a 16.7 M-parameter RRDBNet: at this scale some of its effects may well not appear, and the
differences below are of one seed each, so differences of a few hundredths of a dB or of NIQE are noise.

{vgg_note}

## PSNR-Y / SSIM-Y (4-px border), NIQE (PIRM conventions) on Set5 and Set14

{chr(10).join(lines)}

What each switch changed (column minus the one before):

{chr(10).join(deltas)}

## Crops (paper Fig. 7)

The most detailed {crops[0]['size'] if crops else 0}-px square of each HR image, from every column:
{', '.join(f"{c['image']} at ({c['x']}, {c['y']})" for c in crops)}.

![crop grid](crop_grid.png)

## Brightness (paper Fig. 9a)

Mean Y (MATLAB's, 16-235) of each output minus the HR image's, over the 19 images of Set5 and Set14. The paper
reports that the perceptual loss after the activation (relu5_4) makes the output's brightness drift from the
HR image's, and that the loss before it (conv5_4) does not.

![brightness](brightness.png)

{chr(10).join(bright)}

Per image (HR mean Y, then each column's difference):

{chr(10).join(per_image)}
"""
    (out / "report.md").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ablation")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "ablation")
    parser.add_argument("--train", type=Path, default=SHARED / "train-demo")
    parser.add_argument("--set5", type=Path, default=SHARED / "Set5")
    parser.add_argument("--set14", type=Path, default=SHARED / "Set14")
    parser.add_argument("--vgg-weights", default="random",
                        help="imagenet, a VGG19 file in torchvision's layout, or random (the default: offline)")
    parser.add_argument("--ma-model", type=Path, default=None, help="Ma et al.'s model file: adds Ma and PI")
    parser.add_argument("--smoke", action="store_true", help="tiny iterations: check every step in minutes")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    args.command = " ".join([f"{threads}python benchmarks/ablation.py", *sys.argv[1:]])
    torch.set_num_threads(args.threads)
    scale = SMOKE if args.smoke else Scale()
    if args.smoke:
        args.runs = args.runs.with_name(args.runs.name + "_smoke")
        args.out = args.out.with_name(args.out.name + "_smoke")
    args.out.mkdir(parents=True, exist_ok=True)
    start, load_start = time.monotonic(), os.getloadavg()[0]

    def log(message: str) -> None:
        print(f"[{(time.monotonic() - start) / 60:5.1f} min] {message}", flush=True)

    weights: dict[str, Path] = {}
    minutes: dict[str, float] = {}
    for name in dict.fromkeys(column.stage1 for column in COLUMNS):
        overrides = run_overrides(scale, load_config(name), args.runs, args.train, args.vgg_weights)
        weights[name], minutes[name] = train_once(name, overrides, log)
    for column in COLUMNS:
        overrides = run_overrides(scale, load_config(column.config), args.runs, args.train, args.vgg_weights)
        overrides.append(f"generator.pretrained={weights[column.stage1]}")
        weights[column.config], minutes[column.config] = train_once(column.config, overrides, log)

    datasets = [Dataset(args.set5, name="Set5"), Dataset(args.set14, name="Set14")]
    labels = {BICUBIC: "bicubic"} | STAGE1_LABELS | {column.config: column.label for column in COLUMNS}
    sr_root = args.runs / "sr"
    evaluations: dict[str, Evaluation] = {}
    for key in labels:
        log(f"scoring {labels[key]}")
        evaluations[key] = score(key, weights.get(key), datasets, sr_root, args.ma_model)

    log("figures")
    shown = [(key, labels[key]) for key in ("srresnet_x4_psnr", "esrgan_x4_psnr", *(c.config for c in COLUMNS))]
    crops = crop_grid([(datasets[1], "baboon"), (datasets[1], "comic"), (datasets[0], "butterfly"),
                       (datasets[1], "zebra")], [(BICUBIC, "bicubic"), *shown], sr_root, args.out / "crop_grid.png")
    table = brightness(datasets, evaluations, [(c.config, c.label) for c in COLUMNS], sr_root,
                       args.out / "brightness.png")
    wall = (time.monotonic() - start) / 60
    write_report(args.out, args, scale, evaluations, labels, minutes, table, crops, wall, (load_start,
                                                                                           os.getloadavg()[0]))
    results = {"scale": asdict(scale), "vgg_weights": args.vgg_weights, "wall_minutes": wall,
               "train_minutes": minutes, "brightness": table, "crops": crops,
               "scores": {key: {d.name: {m: d.mean(m) for m in ("psnr", "ssim", "niqe", "ma", "pi")}
                                for d in evaluation.datasets} for key, evaluation in evaluations.items()}}
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    log(f"report in {args.out / 'report.md'}")


if __name__ == "__main__":
    main()

"""An `Evaluation` as a table for the terminal, as JSON and as CSV, and its failures as short lines."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from esrgan.atomic import atomic_write
from esrgan.errors import ImageWriteError
from esrgan.evaluation.evaluate import IMAGE_ERROR, PIRM_CROP_BORDER, DatasetResult, Evaluation

DIGITS = {"psnr": 2, "ssim": 4, "niqe": 3, "ma": 3, "pi": 3}
"""Decimals shown, as the published tables give them (PSNR 28.42, SSIM 0.8104, PI 1.978)."""

MISSING = "-"
PARTIAL_MARK = "*"


def metric_title(metric: str, y_channel: bool) -> str:
    if metric in ("psnr", "ssim"):
        return f"{metric.upper()}-{'Y' if y_channel else 'RGB'}"
    return {"niqe": "NIQE", "ma": "Ma", "pi": "PI"}[metric]


def conventions(evaluation: Evaluation) -> str:
    """One line saying how the numbers were computed, printed above the table and stored in the JSON."""
    options = evaluation.options
    parts = [f"{evaluation.method or 'SR'} x{options.scale}"]
    if {"psnr", "ssim"} & set(options.metrics):
        channel = "MATLAB Y (unrounded)" if options.y_channel else "RGB"
        parts.append(f"PSNR/SSIM on {channel}, {options.scale}-px border cropped")
    if {"niqe", "ma", "pi"} & set(options.metrics):
        parts.append(f"NIQE/Ma/PI on rounded uint8 Y, {PIRM_CROP_BORDER}-px border cropped (PIRM)")
    if options.back_projection:
        parts.append(f"{options.back_projection} back-projection iterations")
    return "; ".join(parts)


def _cell(value: float | None, metric: str) -> str:
    if value is None:
        return MISSING
    return f"{value:.{DIGITS[metric]}f}" if math.isfinite(value) else str(value)


def _mean_cell(dataset: DatasetResult, metric: str) -> str:
    cell = _cell(dataset.mean(metric), metric)
    partial = 0 < len(dataset.values(metric)) < len(dataset.images)
    return cell + PARTIAL_MARK if partial else cell


def format_table(evaluation: Evaluation, per_image: bool = False) -> str:
    """Mean per dataset (and each image's row above it with `per_image`), aligned in columns."""
    metrics = evaluation.options.metrics
    rows = [["Dataset", "Images", *(metric_title(m, evaluation.options.y_channel) for m in metrics)]]
    partial = False
    for dataset in evaluation.datasets:
        if per_image:
            for image in dataset.images:
                rows.append([f"  {image.name}", "", *(_cell(image.scores.get(m), m) for m in metrics)])
        cells = [_mean_cell(dataset, m) for m in metrics]
        partial = partial or any(cell.endswith(PARTIAL_MARK) for cell in cells)
        rows.append([f"{dataset.name} (mean)" if per_image else dataset.name, str(len(dataset.images)), *cells])
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [conventions(evaluation)]
    for row in rows:
        lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
    if partial:
        lines.append(f"{PARTIAL_MARK} mean over the images this metric could score; see the errors")
    return "\n".join(lines)


def error_lines(evaluation: Evaluation) -> list[str]:
    """One line per dataset and distinct failure, naming the images it hit (the same missing Ma model on
    every image is one line, not one per image)."""
    lines = []
    for dataset in evaluation.datasets:
        grouped: dict[tuple[str, str], list[str]] = {}
        for image, key, message in dataset.errors:
            grouped.setdefault((key, message), []).append(image)
        for (key, message), images in grouped.items():
            what = "skipped" if key == IMAGE_ERROR else f"{key} failed"
            shown = ", ".join(images[:3]) + (f" and {len(images) - 3} more" if len(images) > 3 else "")
            lines.append(f"{dataset.name}: {what} on {shown}: {message}")
    return lines


def _number(value: float | None) -> float | str | None:
    """JSON has no inf / nan: they are written as the strings "inf" / "nan"."""
    return value if value is None or math.isfinite(value) else str(value)


def to_dict(evaluation: Evaluation) -> dict:
    options = evaluation.options
    return {
        "method": evaluation.method,
        "scale": options.scale,
        "metrics": list(options.metrics),
        "y_channel": options.y_channel,
        "back_projection": options.back_projection,
        "conventions": conventions(evaluation),
        "datasets": [
            {
                "name": dataset.name,
                "hr_dir": str(dataset.hr_dir),
                "source": dataset.source,
                "mean": {m: _number(dataset.mean(m)) for m in options.metrics},
                "count": {m: len(dataset.values(m)) for m in options.metrics},
                "images": [
                    {
                        "name": image.name,
                        "scores": {m: _number(v) for m, v in image.scores.items()},
                        "errors": image.errors,
                    }
                    for image in dataset.images
                ],
            }
            for dataset in evaluation.datasets
        ],
    }


def _write_text(path: Path, text: str) -> None:
    try:
        atomic_write(Path(path), lambda temp: temp.write_text(text, encoding="utf-8"))
    except OSError as error:
        raise ImageWriteError(f"{path}: cannot write ({error.strerror or error})") from None


def write_json(evaluation: Evaluation, path: Path) -> None:
    _write_text(path, json.dumps(to_dict(evaluation), indent=2, allow_nan=False) + "\n")


def write_csv(evaluation: Evaluation, path: Path) -> None:
    """One row per image and one mean row per dataset (image column "(mean)"); full precision."""
    metrics = evaluation.options.metrics
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "image", *metrics, "errors"])
    for dataset in evaluation.datasets:
        for image in dataset.images:
            errors = "; ".join(f"{key}: {message}" for key, message in image.errors.items())
            writer.writerow([dataset.name, image.name, *(_csv_number(image.scores.get(m)) for m in metrics), errors])
        writer.writerow([dataset.name, "(mean)", *(_csv_number(dataset.mean(m)) for m in metrics), ""])
    _write_text(path, buffer.getvalue())


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(value)

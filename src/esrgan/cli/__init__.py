"""The `esrgan` command line: one thin module per sub-command (parse, call the library, print)."""

SUMMARIES: dict[str, str] = {
    "upscale": "super-resolve images",
    "models": "list the pretrained models",
    "convert": "convert NCNN or other checkpoints to the canonical form or NCNN",
    "interpolate": "blend two generators: (1-alpha)*A + alpha*B",
    "evaluate": "score a model on benchmark datasets",
    "prepare": "make HR/LR training or benchmark pairs",
    "sweep": "perception-distortion sweep of network vs image interpolation",
    "train": "train a generator from a YAML config",
    "export": "export a generator to ONNX",
    "serve": "a local web page to upscale, compare and blend models",
}
"""One line per sub-command for `esrgan --help`, kept here so that listing them imports none of them."""

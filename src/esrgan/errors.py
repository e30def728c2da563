"""One exception type per failure family.

Every error carries a message that says what happened and what to do, so the command line can print it as
one line and exit non-zero without a traceback.
"""


class EsrganError(Exception):
    """Base of every error this package raises on purpose."""


class CheckpointError(EsrganError):
    """A weights file is unreadable, unsafe, of an unknown layout, or does not fit the architecture."""


class ModelNotFoundError(EsrganError):
    """A model name is not in the zoo and is not a path to a weights file."""


class DownloadError(EsrganError):
    """A download failed, was interrupted, or its sha256 did not match; nothing was cached."""


class ImageReadError(EsrganError):
    """An input image cannot be read: not an image, truncated, or larger than allowed."""


class ImageWriteError(EsrganError):
    """An output image cannot be written, or would replace an existing file."""


class ConfigError(EsrganError):
    """A configuration value is missing, misspelt, of the wrong type or out of range."""


class DatasetError(EsrganError):
    """A dataset folder is missing, empty, or holds images that do not fit the task."""


class MetricError(EsrganError):
    """A metric cannot be computed for these inputs (sizes differ, a model file is missing, ...)."""


class ExportError(EsrganError):
    """A model cannot be exported, or the exported model does not reproduce the PyTorch output."""


class TrainingDivergedError(EsrganError):
    """A loss or a weight became NaN or infinite; the run stopped without overwriting good checkpoints."""


class VideoError(EsrganError):
    """A video cannot be read or written: not a video, no video stream, truncated, too large, a stream the
    output container cannot hold, or an unfinished run in the way."""

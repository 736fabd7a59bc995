"""Lazy, per-process loading of the optional analyzer dependencies and model sessions.

Nothing here runs at import time: the core stays importable (and light) without the
``analyzers`` extra, and each session is built once per process on first use.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from dicomlens.analysis.analyzers.budget import CancellableSession

INSTALL_HINT = "install the analyzers extra: pip install 'dicomlens[analyzers]'"


class AnalyzerUnavailableError(RuntimeError):
    """An analyzer's dependency or model file is missing."""


def require(module: str, *, package: str) -> ModuleType:
    """Import ``module`` or explain which package provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AnalyzerUnavailableError(f"{package} is not installed ({INSTALL_HINT})") from exc


@functools.cache
def onnx_session(path: str, threads: int) -> Any:
    """An onnxruntime CPU session for the model at ``path`` (0 threads = runtime's choice),
    whose runs stop when the calling analyzer's time budget runs out
    (:class:`~dicomlens.analysis.analyzers.budget.CancellableSession`)."""
    ort = require("onnxruntime", package="onnxruntime")
    if not Path(path).is_file():
        raise AnalyzerUnavailableError(f"model file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return CancellableSession(session, ort.RunOptions)


@functools.cache
def text_lines(path: str) -> tuple[str, ...]:
    """The non-empty lines of a UTF-8 labels file, in order."""
    file = Path(path)
    if not file.is_file():
        raise AnalyzerUnavailableError(f"labels file not found: {path}")
    return tuple(
        line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()
    )


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (HxW gray, HxWx1, HxWx3 or HxWx4) as contiguous HxWx3 uint8 RGB."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] > 3:
        pixels = pixels[:, :, :3]
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def as_gray(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` as HxW uint8 luminance (ITU-R BT.601 weights for colour)."""
    if pixels.ndim == 2:
        gray: np.ndarray = np.ascontiguousarray(pixels, dtype=np.uint8)
        return gray
    rgb = as_rgb(pixels).astype(np.float32)
    luminance = rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114
    result: np.ndarray = np.clip(np.rint(luminance), 0, 255).astype(np.uint8)
    return result


def is_grayscale(pixels: np.ndarray) -> bool:
    """Whether the picture carries no colour (one channel, or equal channels)."""
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        return True
    rgb = pixels[::4, ::4, :3].astype(np.int16)
    spread = np.abs(rgb[:, :, 0] - rgb[:, :, 1]) + np.abs(rgb[:, :, 1] - rgb[:, :, 2])
    return bool(np.percentile(spread, 99) <= 6)

"""Bring-your-own ONNX classifier, tested with a tiny model built here with onnx.helper.

The model averages each input channel and scores two classes: ``bright`` = +sum of the
channel means, ``dark`` = -sum. Given a configured model, path, labels file and
preprocessing, when a frame is analysed, then the label follows the pixels the
preprocessing (crop, normalisation) hands the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from dicomlens.analysis.analyzers import (  # noqa: E402
    AnalyzerSelection,
    OnnxModelSpec,
    build_analyzers,
    run_analyzers,
)
from dicomlens.domain.results import ImageSummary, PhiFields  # noqa: E402
from dicomlens.ports import Analyzer, AnalyzerInput  # noqa: E402


def _tiny_model(path: Path, *, channels: int = 3, size: int = 16) -> Path:
    weights = np.stack([np.ones(channels), -np.ones(channels)], axis=1).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image", "axes"], ["means"], keepdims=0),
            helper.make_node("MatMul", ["means", "weights"], ["logits"]),
        ],
        "brightness",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        initializer=[
            helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
            helper.make_tensor("weights", TensorProto.FLOAT, list(weights.shape), weights.ravel()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def model_files(tmp_path: Path) -> tuple[Path, Path]:
    labels = tmp_path / "labels.txt"
    labels.write_text("bright\ndark\n", encoding="utf-8")
    return _tiny_model(tmp_path / "brightness.onnx"), labels


def _analyzer(model_files: tuple[Path, Path], **options: object) -> Analyzer:
    model, labels = model_files
    spec = OnnxModelSpec.model_validate(
        {
            "name": "brightness",
            "path": model,
            "labels": labels,
            "input_size": 16,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "min_confidence": 0.6,
            "category": "exposure",
            **options,
        }
    )
    (analyzer,) = build_analyzers(AnalyzerSelection(names=("brightness",), models=(spec,)))
    return analyzer


def _frame(pixels: np.ndarray) -> AnalyzerInput:
    return AnalyzerInput(pixels=pixels, kind="png", summary=ImageSummary(), phi=PhiFields())


def test_a_bright_frame_is_labelled_bright_by_the_configured_model(
    model_files: tuple[Path, Path],
) -> None:
    output = _analyzer(model_files).analyze(_frame(np.full((40, 60, 3), 250, np.uint8)))
    assert [(label.name, label.source, label.category) for label in output.labels] == [
        ("bright", "brightness", "exposure")
    ]
    assert output.labels[0].confidence > 0.9


def test_a_dark_grayscale_frame_is_labelled_dark(model_files: tuple[Path, Path]) -> None:
    output = _analyzer(model_files).analyze(_frame(np.full((40, 60), 5, np.uint8)))
    assert [label.name for label in output.labels] == ["dark"]


def test_the_crop_region_chooses_what_the_model_sees(model_files: tuple[Path, Path]) -> None:
    half = np.zeros((40, 80), np.uint8)
    half[:, :40] = 255  # bright left half, black right half
    left = _analyzer(model_files, crop=[0.0, 0.0, 0.5, 1.0]).analyze(_frame(half))
    right = _analyzer(model_files, crop=[0.5, 0.0, 0.5, 1.0]).analyze(_frame(half))
    assert [label.name for label in left.labels] == ["bright"]
    assert [label.name for label in right.labels] == ["dark"]


def test_scores_below_the_minimum_confidence_give_no_label(model_files: tuple[Path, Path]) -> None:
    grey = np.full((16, 16, 3), 128, np.uint8)  # neither bright nor dark: 50/50
    assert _analyzer(model_files).analyze(_frame(grey)).labels == ()


def test_a_single_channel_model_gets_gray_input(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("bright\ndark\n", encoding="utf-8")
    model = _tiny_model(tmp_path / "gray.onnx", channels=1)
    analyzer = _analyzer((model, labels), channels="gray", mean=[0.5], std=[0.5])
    output = analyzer.analyze(_frame(np.full((20, 20, 3), 240, np.uint8)))
    assert [label.name for label in output.labels] == ["bright"]


def test_a_labels_file_that_does_not_fit_the_model_fails_the_analyzer_not_the_job(
    model_files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, _ = model_files
    wrong = tmp_path / "three.txt"
    wrong.write_text("a\nb\nc\n", encoding="utf-8")
    results = run_analyzers([_analyzer((model, wrong))], _frame(np.zeros((8, 8), np.uint8)))
    (failed,) = results.findings
    assert failed.kind == "analyzer-failed"
    assert "brightness" in failed.message
    assert "labels file has 3 lines" in failed.message


def test_a_missing_model_file_is_reported_by_name(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("bright\ndark\n", encoding="utf-8")
    analyzer = _analyzer((tmp_path / "absent.onnx", labels))
    (failed,) = run_analyzers([analyzer], _frame(np.zeros((8, 8), np.uint8))).findings
    assert "model file not found" in failed.message

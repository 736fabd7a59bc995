"""Where the files dicomlens reads at run time are: the web page, the SAM template, the model.

An installed wheel carries them inside this package as package data (``web/``,
``infra/template.yaml``, ``models/``; ``setup.py`` maps the repository's folders here), found
with :mod:`importlib.resources`. A source checkout (an editable install, ``PYTHONPATH=src``)
keeps each of them once at the repository root, where SAM, the browser tests and git expect
them and outside ``src/``, which SAM packages into every Lambda function: there they are
found at the root. (setuptools' editable finder maps only folders that hold an
``__init__.py``, so it cannot show those folders inside this package.)

The Settings ``web_dir``, ``template_path``, ``classifier_model`` and ``classifier_labels``
override each of these.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# The repository root when this package runs from a source checkout (src/dicomlens/assets/).
_CHECKOUT_ROOT = Path(__file__).resolve().parents[3]


def _locate(*parts: str) -> Path:
    """``parts`` inside the installed package, else at the source checkout's root.

    The result may not exist (a Lambda package holds neither): callers that need the file
    report it missing as they would for any configured path.
    """
    packaged = resources.files(__name__).joinpath(*parts)
    # pip installs wheels unpacked, so package data is a real file (onnxruntime and
    # Starlette's StaticFiles need a path, not a zip member).
    if isinstance(packaged, Path) and packaged.exists():
        return packaged
    return _CHECKOUT_ROOT.joinpath(*parts)


def web_root() -> Path:
    """The folder of the static web page (``index.html``, scripts, styles)."""
    return _locate("web")


def sam_template() -> Path:
    """The SAM template whose HttpApi events give the local route table."""
    return _locate("infra", "template.yaml")


def imagenet_model() -> Path:
    """The EfficientNet-Lite0 ImageNet classifier, exported to ONNX (``models/``)."""
    return _locate("models", "efficientnet-lite0.onnx")


def imagenet_labels() -> Path:
    """The 1000 ImageNet class names, one a line, in the model's output order."""
    return _locate("models", "imagenet-classes.txt")

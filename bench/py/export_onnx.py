"""Exports the benchmark's inference models to ONNX for onnxruntime-node, at bench time, into a
cache directory (the files are large and derived: they are never committed).

  lenet5.onnx    W1's LeNet-5 (Glorot init), dynamic batch
  resnet18.onnx  torchvision resnet18 (Glorot init: no weights are downloaded), dynamic batch
  matmul.onnx    C = A @ B for W4, dynamic sizes

Usage: /usr/bin/python3 bench/py/export_onnx.py OUT_DIR
"""
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from torch_worker import glorot, lenet5  # noqa: E402  (the same definitions the PyTorch worker measures)


class MatMul(torch.nn.Module):
    def forward(self, a, b):
        return torch.mm(a, b)


def export(model, args, path, names, dynamic):
    torch.onnx.export(model, args, path, input_names=names, output_names=['out'], dynamic_axes=dynamic, opset_version=13)
    print(f'wrote {path}')


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    batch = {0: 'batch'}
    export(lenet5().eval(), (torch.zeros(1, 1, 28, 28),), os.path.join(out, 'lenet5.onnx'), ['x'], {'x': batch, 'out': batch})
    torch.manual_seed(0)
    r18 = glorot(torchvision.models.resnet18()).eval()
    export(r18, (torch.zeros(1, 3, 224, 224),), os.path.join(out, 'resnet18.onnx'), ['x'], {'x': batch, 'out': batch})
    export(MatMul(), (torch.zeros(4, 4), torch.zeros(4, 4)), os.path.join(out, 'matmul.onnx'), ['a', 'b'],
           {'a': {0: 'm', 1: 'k'}, 'b': {0: 'k', 1: 'n'}, 'out': {0: 'm', 1: 'n'}})


if __name__ == '__main__':
    main()

"""Trains stride's `convnet` architecture on Fashion-MNIST with torch for one epoch and exports
it for stride's parity test (Debian's python3-torch; needs the full dataset, Debian's
dataset-fashion-mnist):

    /usr/bin/python3 tools/models/train_fashion_cnn.py [FASHION_MNIST_DIR]

Writes, under test/fixtures/models/ (committed):
  fashion_convnet.safetensors        the trained state_dict (torch's keys; stride's ConvNet has the same)
  fashion_convnet_predictions.json   torch's eval-mode predicted class for each of the 10,000 test
                                     images and for the 1,000 of the bundled subset
                                     (data/fashion-mnist-subset), the accuracies, the logits of the
                                     first subset images, and the smallest top-1/top-2 logit gap.

Pixels are normalised as stride's CLI does, (p / 255 - 0.286) / 0.353, through a 256-entry table
computed in float64 and rounded to float32 once, so that stride can build bit-identical inputs.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "models")
SUBSET = os.path.join(ROOT, "data", "fashion-mnist-subset")
SEED = 7
MEAN, STD = 0.286, 0.353
LOGITS_KEPT = 32


def read_idx(path, ndim):
    with gzip.open(path, "rb") as f:
        data = f.read()
    sizes = struct.unpack_from(">" + "I" * ndim, data, 4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(sizes)


def load(directory, split):
    images = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"), 3)
    labels = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"), 1)
    table = ((np.arange(256, dtype=np.float64) / 255 - MEAN) / STD).astype(np.float32)
    x = torch.from_numpy(table[images]).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


class ConvNet(nn.Module):
    """stride's src/models/convnet.ts: two conv5x5(pad 2)-BN-ReLU-maxpool blocks (16, 32), fc."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(7 * 7 * 32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.layer2(self.layer1(x)), 1))


@torch.no_grad()
def predict(model, x):
    logits = torch.cat([model(x[i:i + 500]) for i in range(0, len(x), 500)])
    top2 = logits.topk(2, dim=1).values
    return logits, logits.argmax(1), (top2[:, 0] - top2[:, 1]).min().item()


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    x_train, y_train = load(source, "train")
    model = ConvNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    order = torch.randperm(len(x_train))
    model.train()
    for i in range(0, len(order), 64):
        batch = order[i:i + 64]
        opt.zero_grad()
        nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
        opt.step()
    model.eval()

    doc = {"generator": "tools/models/train_fashion_cnn.py", "torch": torch.__version__, "seed": SEED,
           "training": "1 epoch, SGD lr 0.01 momentum 0.9, batch 64, cross-entropy, 60,000 images",
           "normalization": {"mean": MEAN, "std": STD}}
    for name, directory in (("full", source), ("subset", SUBSET)):
        x, y = load(directory, "t10k")
        logits, pred, gap = predict(model, x)
        doc[name] = {"images": len(y), "accuracy": (pred == y).float().mean().item(), "correct": int((pred == y).sum()),
                     "min_top2_gap": gap, "predictions": pred.tolist()}
        if name == "subset":
            doc[name]["logits"] = [[float("%.9g" % v) for v in row] for row in logits[:LOGITS_KEPT].tolist()]
        print(f"{name}: {len(y)} test images, accuracy {doc[name]['accuracy']:.4f}, smallest top-2 logit gap {gap:.3g}")

    os.makedirs(OUT, exist_ok=True)
    safetensors_io.save(os.path.join(OUT, "fashion_convnet.safetensors"), model.state_dict(),
                        {"architecture": "stride convnet", "torch": torch.__version__})
    with open(os.path.join(OUT, "fashion_convnet_predictions.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT, ROOT)}/fashion_convnet.safetensors and fashion_convnet_predictions.json")


if __name__ == "__main__":
    main()

"""Exports torchvision models for stride's tests (Debian's python3-torch, python3-torchvision):

    /usr/bin/python3 tools/models/export_torchvision.py [--out DIR] [--keys-only]

1. test/fixtures/models/torchvision_keys.json (committed): for every torchvision model in
   stride's zoo, its parameter count and its state_dict keys with their shapes, in order.
2. DIR (default $XDG_CACHE_HOME/stride/torchvision, i.e. ~/.cache/stride/torchvision; too large
   to commit): for resnet18, vgg11, alexnet and mobilenet_v2, NAME.safetensors (the state_dict
   under torchvision's keys) and NAME.reference.safetensors (a fixed input and torch's eval-mode
   logits for it, with the input size in the metadata).

No network: the weights are torchvision's random initialisation with a fixed seed. Since that
leaves every BatchNorm at weight 1, bias 0 and every zero-initialised bias at 0, those are
redrawn (a loader that swapped or dropped them would otherwise go unnoticed), and the BatchNorm
running statistics are filled by a few train-mode passes on random data (fresh ones are 0 and
1, which hide the same kind of error).
"""
import argparse
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS_FIXTURE = os.path.join(ROOT, "test", "fixtures", "models", "torchvision_keys.json")
SEED = 20240501

KEY_MODELS = [
    "alexnet",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "googlenet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "mobilenet_v2",
]

# Model, input side, batch. The sides keep stride's reference backend to seconds while still
# leaving every layer a map larger than 1x1 where that matters (alexnet needs 63 at least).
EXPORTS = [("resnet18", 64, 2), ("vgg11", 64, 2), ("alexnet", 128, 2), ("mobilenet_v2", 96, 2)]


def build(name):
    """torchvision's model without pretrained weights. GoogLeNet keeps its auxiliary heads (its
    constructor's default) and skips the scipy-based truncated-normal init, which is slow and
    does not change the keys."""
    fn = getattr(torchvision.models, name)
    if name == "googlenet":
        return fn(weights=None, aux_logits=True, init_weights=False)
    return fn(weights=None)


def write_keys():
    models = {}
    for name in KEY_MODELS:
        m = build(name)
        models[name] = {
            "params": sum(p.numel() for p in m.parameters()),
            "state_dict": [[k, list(v.shape)] for k, v in m.state_dict().items()],
        }
    doc = {"generator": "tools/models/export_torchvision.py", "torch": torch.__version__,
           "torchvision": torchvision.__version__, "models": models}
    os.makedirs(os.path.dirname(KEYS_FIXTURE), exist_ok=True)
    with open(KEYS_FIXTURE, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(KEYS_FIXTURE, ROOT)} ({os.path.getsize(KEYS_FIXTURE)} bytes)")


@torch.no_grad()
def perturb(model, gen):
    """Redraws what torchvision initialises to constants: BatchNorm weights in [0.5, 1.5],
    BatchNorm biases and all-zero biases from N(0, 0.1)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        elif getattr(m, "bias", None) is not None and not m.bias.any():
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


@torch.no_grad()
def fill_batch_norm_stats(model, gen, side, passes=3, batch=8):
    """Train-mode passes on random images; momentum None makes the running statistics the
    plain average over the passes rather than 10% of the way from 0 and 1."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = None
    model.train()
    for _ in range(passes):
        model(torch.randn(batch, 3, side, side, generator=gen) * 0.5 + 0.2)
    for m in bns:
        m.momentum = 0.1
    model.eval()


def export(name, side, batch, out_dir, seed):
    torch.manual_seed(seed)
    model = build(name)
    gen = torch.Generator().manual_seed(seed)
    perturb(model, gen)
    fill_batch_norm_stats(model, gen, side)
    x = torch.randn(batch, 3, side, side, generator=gen)
    with torch.no_grad():
        logits = model(x)
    meta = {"model": name, "torch": torch.__version__, "torchvision": torchvision.__version__, "seed": str(seed), "input_size": str(side)}
    safetensors_io.save(os.path.join(out_dir, f"{name}.safetensors"), model.state_dict(), meta)
    safetensors_io.save(os.path.join(out_dir, f"{name}.reference.safetensors"), {"input": x, "logits": logits}, meta)
    print(f"wrote {name} ({sum(p.numel() for p in model.parameters()):,} parameters, input {batch}x3x{side}x{side}) to {out_dir}")


def default_out():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "stride", "torchvision")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.environ.get("STRIDE_TORCHVISION_DIR") or default_out(),
                        help="directory for the weight files (default: $STRIDE_TORCHVISION_DIR or ~/.cache/stride/torchvision)")
    parser.add_argument("--keys-only", action="store_true", help="write only the committed key fixture")
    args = parser.parse_args()
    torch.set_num_threads(1)
    write_keys()
    if args.keys_only:
        return
    os.makedirs(args.out, exist_ok=True)
    for i, (name, side, batch) in enumerate(EXPORTS):
        export(name, side, batch, args.out, SEED + i)


if __name__ == "__main__":
    main()

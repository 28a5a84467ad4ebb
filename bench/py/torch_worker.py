"""PyTorch worker of stride's benchmark harness (run with Debian's /usr/bin/python3).

Speaks the protocol of bench/lib/serve.ts: one JSON request per stdin line, replies on stdout
lines starting with '@@bench '. Threads: --threads N (torch.set_num_threads, one inter-op thread).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision

MARK = '@@bench '
FASHION_DIR = os.environ.get('FASHION_MNIST_DIR', '/usr/share/datasets/fashion-mnist')


def reply(msg):
    sys.stdout.write(MARK + json.dumps(msg) + '\n')
    sys.stdout.flush()


def load_fashion(split):
    with gzip.open(os.path.join(FASHION_DIR, f'{split}-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(FASHION_DIR, f'{split}-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(images.astype(np.float32) / 255), torch.from_numpy(labels.astype(np.int64))


def glorot(model):
    """The benchmark's initialisation in every system: Glorot-uniform weights, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def lenet5():
    torch.manual_seed(0)
    return glorot(nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet20(nn.Module):
    """CIFAR ResNet-20 with 1x1 projection shortcuts (as stride/models' CifarResNet)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            stages.append(nn.Sequential(Block(cin, width, stride), Block(width, width, 1), Block(width, width, 1)))
            cin = width
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.layer3(self.layer2(self.layer1(y)))
        return self.fc(y.mean((2, 3)))


def train_step(model, opt, loss_fn, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def prepare(wid, p, data):
    b = p['batch']
    if wid == 'w1_train':
        model = lenet5()
        opt = torch.optim.SGD(model.parameters(), lr=p['lr'], momentum=p['momentum'])
        loss_fn = nn.CrossEntropyLoss()
        images, labels = data()
        state = {'at': 0}

        def step():
            at = state['at']
            train_step(model, opt, loss_fn, images[at:at + b], labels[at:at + b])
            state['at'] = (at + b) % (len(labels) - len(labels) % b)
        return b, step
    if wid == 'w1_eval':
        model = lenet5().eval()
        x = data()[0][:b].clone()

        def step():
            with torch.no_grad():
                model(x).numpy()
        return b, step
    if wid == 'w2_train':
        torch.manual_seed(0)
        model = glorot(ResNet20())
        opt = torch.optim.SGD(model.parameters(), lr=p['lr'], momentum=p['momentum'])
        loss_fn = nn.CrossEntropyLoss()
        x, y = torch.randn(b, 3, 32, 32), torch.randint(0, 10, (b,))
        return b, lambda: train_step(model, opt, loss_fn, x, y)
    if wid in ('w3_b1', 'w3_b8'):
        torch.manual_seed(0)
        model = glorot(torchvision.models.resnet18()).eval()
        x = torch.randn(b, 3, 224, 224)

        def step():
            with torch.no_grad():
                model(x).numpy()
        return b, step
    if wid in ('w4_256', 'w4_1024'):
        n = p['n']
        a, c = torch.randn(n, n), torch.randn(n, n)
        return 2 * n ** 3 / 1e9, lambda: torch.mm(a, c)
    raise ValueError(f'unknown workload {wid}')


def run_for(step, seconds):
    t0 = last = time.perf_counter()
    iters, last_s = 0, 0.0
    while True:
        step()
        iters += 1
        now = time.perf_counter()
        last_s, last = now - last, now
        if last - t0 >= seconds:
            return iters, last - t0, last_s


def t1(p):
    images, labels = load_fashion('train')
    test_x, test_y = load_fashion('t10k')
    model = lenet5()
    opt = torch.optim.SGD(model.parameters(), lr=p['lr'], momentum=p['momentum'])
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=p['lr_step_size'], gamma=p['lr_gamma'])
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(p['seed'])
    history, seconds, b = [], 0.0, p['batch']
    for epoch in range(1, p['max_epochs'] + 1):
        if seconds >= p['max_seconds']:
            break
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(labels), generator=g)
        for at in range(0, len(labels), b):
            idx = order[at:at + b]
            train_step(model, opt, loss_fn, images[idx], labels[idx])
        seconds += time.perf_counter() - t0
        schedule.step()
        model.eval()
        with torch.no_grad():
            acc = (model(test_x).argmax(1) == test_y).float().mean().item()
        e = {'epoch': epoch, 'seconds': seconds, 'test_accuracy': acc}
        history.append(e)
        reply({'progress': e})
        if acc >= p['target']:
            break
    return history


def capability():
    """The ISA line of torch's build summary (Debian's build dispatches to AVX2 at most)."""
    return next((l.strip() for l in torch.__config__.show().splitlines() if 'CPU capability' in l), 'unknown')


def blas_library():
    """The BLAS torch loaded (Debian's torch calls whichever libblas.so.3 the alternatives
    system points at: the reference netlib BLAS unless OpenBLAS is installed, W1 then at 44% speed)."""
    with open('/proc/self/maps') as f:
        paths = {line.split()[-1] for line in f if os.path.basename(line.split()[-1]).startswith('libblas')}
    return ', '.join(sorted(paths)) or 'unknown'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, required=True)
    threads = ap.parse_args().threads
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    cache = {}
    torch.ones(2, 2) @ torch.ones(2, 2)
    blas = blas_library()
    notes = [] if 'openblas' in blas else [f'PyTorch runs on {blas}, not OpenBLAS (apt-get install libopenblas0-pthread): its numbers are low']

    def data():
        if 'train' not in cache:
            cache['train'] = load_fashion('train')
        return cache['train']
    reply({'ready': True, 'info': {'system': 'pytorch', 'torch': torch.__version__, 'torchvision': torchvision.__version__,
                                   'threads': torch.get_num_threads(), 'config': capability(), 'blas': blas}})
    runners = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req['op'] == 'prepare':
                items, step = prepare(req['id'], req['params'], data)
                runners[req['id']] = (items, step)
                reply({'ok': True, 'notes': notes})
            elif req['op'] == 'warmup':
                _, _, last_s = run_for(runners[req['id']][1], req['seconds'])
                reply({'ok': True, 'iter_s': last_s})
            elif req['op'] == 'measure':
                items, step = runners[req['id']]
                iters, seconds, _ = run_for(step, req['seconds'])
                reply({'ok': True, 'items': iters * items, 'seconds': seconds, 'iters': iters})
            elif req['op'] == 'release':
                runners.pop(req['id'], None)
                reply({'ok': True})
            elif req['op'] == 't1':
                reply({'ok': True, 'epochs': t1(req['params'])})
        except Exception as e:  # reported to the orchestrator, which records it against the workload
            reply({'error': f'{type(e).__name__}: {e}'})


if __name__ == '__main__':
    main()

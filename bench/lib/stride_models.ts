/**
 * The benchmark's ResNets written with stride's layers, with PyTorch's structure (and parameter
 * names), since stride/models has no ResNet yet. W2 is the CIFAR ResNet-20 of He et al. (2016)
 * with 1x1 projection shortcuts; W3 is torchvision's resnet18. The PyTorch and TF.js workers
 * build the same graphs.
 */
import * as nn from '../../src/nn/index.js';
import type { Tensor } from '../../src/index.js';

class BasicBlock extends nn.Module {
  conv1: nn.Conv2d;
  bn1: nn.BatchNorm2d;
  conv2: nn.Conv2d;
  bn2: nn.BatchNorm2d;
  downsample: nn.Sequential | null;

  constructor(cin: number, cout: number, stride: number) {
    super();
    this.conv1 = new nn.Conv2d(cin, cout, 3, { stride, padding: 1, bias: false });
    this.bn1 = new nn.BatchNorm2d(cout);
    this.conv2 = new nn.Conv2d(cout, cout, 3, { padding: 1, bias: false });
    this.bn2 = new nn.BatchNorm2d(cout);
    this.downsample = stride !== 1 || cin !== cout
      ? new nn.Sequential(new nn.Conv2d(cin, cout, 1, { stride, bias: false }), new nn.BatchNorm2d(cout))
      : null;
  }

  forward(x: Tensor): Tensor {
    const y = this.bn2.call(this.conv2.call(this.bn1.call(this.conv1.call(x)).relu()));
    const shortcut = this.downsample ? (this.downsample.call(x) as Tensor) : x;
    return y.add(shortcut).relu();
  }
}

function stage(cin: number, cout: number, blocks: number, stride: number): nn.Sequential {
  const list = [new BasicBlock(cin, cout, stride)];
  for (let i = 1; i < blocks; i++) list.push(new BasicBlock(cout, cout, 1));
  return new nn.Sequential(...list);
}

/** CIFAR ResNet-20: 3x3 conv 16, three stages of three blocks (16, 32, 64 channels), global average pool, fc 10. */
export class ResNet20 extends nn.Module {
  conv1 = new nn.Conv2d(3, 16, 3, { padding: 1, bias: false });
  bn1 = new nn.BatchNorm2d(16);
  layer1 = stage(16, 16, 3, 1);
  layer2 = stage(16, 32, 3, 2);
  layer3 = stage(32, 64, 3, 2);
  fc = new nn.Linear(64, 10);

  forward(x: Tensor): Tensor {
    let y = this.bn1.call(this.conv1.call(x)).relu();
    y = this.layer3.call(this.layer2.call(this.layer1.call(y))) as Tensor;
    return this.fc.call(y.mean([2, 3]));
  }
}

/** torchvision's resnet18 (1000 classes). */
export class ResNet18 extends nn.Module {
  conv1 = new nn.Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false });
  bn1 = new nn.BatchNorm2d(64);
  maxpool = new nn.MaxPool2d(3, { stride: 2, padding: 1 });
  layer1 = stage(64, 64, 2, 1);
  layer2 = stage(64, 128, 2, 2);
  layer3 = stage(128, 256, 2, 2);
  layer4 = stage(256, 512, 2, 2);
  fc = new nn.Linear(512, 1000);

  forward(x: Tensor): Tensor {
    let y = this.maxpool.call(this.bn1.call(this.conv1.call(x)).relu()) as Tensor;
    y = this.layer4.call(this.layer3.call(this.layer2.call(this.layer1.call(y)))) as Tensor;
    return this.fc.call(y.mean([2, 3]));
  }
}

/** The benchmark's initialisation in every system: Glorot-uniform weights, zero biases (BN keeps 1 and 0). */
export function glorotInit(model: nn.Module): void {
  for (const m of model.modules()) {
    if (m instanceof nn.Conv2d || m instanceof nn.Linear) {
      nn.init.xavier_uniform_(m.weight);
      if (m.bias) nn.init.zeros_(m.bias);
    }
  }
}

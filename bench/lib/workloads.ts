/**
 * The workloads, defined once: every worker gets its parameters from here (over the protocol),
 * and the report takes the arithmetic per item from here.
 */

export type WorkloadId = 'w1_train' | 'w1_eval' | 'w2_train' | 'w3_b1' | 'w3_b8' | 'w4_256' | 'w4_1024';

export interface WorkloadParams {
  batch: number;
  lr?: number;
  momentum?: number;
  /** SGEMM size. */
  n?: number;
}

export interface Workload {
  id: WorkloadId;
  title: string;
  params: WorkloadParams;
  /** What one item is: images for the networks, GFLOP for SGEMM (so items/s is GFLOP/s). */
  unit: 'images/s' | 'GFLOP/s';
  /** Floating-point operations per item (2 per multiply-add; training counts 3x the forward pass). */
  flops_per_item: number;
  /** How the systems' setups differ, printed under the results. */
  note?: string;
}

/** Multiply-adds of a 2-d convolution or fully connected layer. */
function convMacs(cin: number, cout: number, k: number, hOut: number, wOut = hOut): number {
  return cin * cout * k * k * hOut * wOut;
}

/** LeNet-5 at 28x28: conv 1→6 5x5 pad 2 (28x28), conv 6→16 5x5 (10x10), fc 400-120-84-10. */
const LENET_MACS = convMacs(1, 6, 5, 28) + convMacs(6, 16, 5, 10) + 400 * 120 + 120 * 84 + 84 * 10;

/** ResNet of BasicBlocks: stem, then per stage `blocks` pairs of 3x3 convs and a 1x1 projection where the shape changes. */
function resnetMacs(stem: { cin: number; cout: number; k: number; out: number }, stageOut: number, widths: number[], blocks: number, classes: number): number {
  let macs = convMacs(stem.cin, stem.cout, stem.k, stem.out);
  let c = stem.cout;
  let size = stageOut;
  widths.forEach((w, i) => {
    if (i > 0) size /= 2;
    for (let b = 0; b < blocks; b++) {
      const cin = b === 0 ? c : w;
      macs += convMacs(cin, w, 3, size) + convMacs(w, w, 3, size);
      if (b === 0 && cin !== w) macs += convMacs(cin, w, 1, size);
    }
    c = w;
  });
  return macs + c * classes;
}

/** CIFAR ResNet-20 at 32x32: 40.8 M multiply-adds. */
const RESNET20_MACS = resnetMacs({ cin: 3, cout: 16, k: 3, out: 32 }, 32, [16, 32, 64], 3, 10);
/** torchvision ResNet-18 at 224x224 (7x7/2 stem to 112, max pool to 56): 1,814 M multiply-adds. */
const RESNET18_MACS = resnetMacs({ cin: 3, cout: 64, k: 7, out: 112 }, 56, [64, 128, 256, 512], 2, 1000);

const SGD = { lr: 0.01, momentum: 0.9 };

const FOLDED =
  'stride runs ResNet-18 with its batch norms folded into the convolutions (ResNet.fuse_model()), as onnxruntime runs the ONNX export ' +
  '(torch.onnx.export folds them in evaluation mode); PyTorch and TF.js run them as separate layers';

export const WORKLOADS: Workload[] = [
  { id: 'w1_train', title: 'W1 LeNet-5 train b64', params: { batch: 64, ...SGD }, unit: 'images/s', flops_per_item: 6 * LENET_MACS },
  { id: 'w1_eval', title: 'W1 LeNet-5 eval b256', params: { batch: 256 }, unit: 'images/s', flops_per_item: 2 * LENET_MACS },
  { id: 'w2_train', title: 'W2 ResNet-20 train b32', params: { batch: 32, ...SGD }, unit: 'images/s', flops_per_item: 6 * RESNET20_MACS },
  { id: 'w3_b1', title: 'W3 ResNet-18 eval b1', params: { batch: 1 }, unit: 'images/s', flops_per_item: 2 * RESNET18_MACS, note: FOLDED },
  { id: 'w3_b8', title: 'W3 ResNet-18 eval b8', params: { batch: 8 }, unit: 'images/s', flops_per_item: 2 * RESNET18_MACS, note: FOLDED },
  { id: 'w4_256', title: 'W4 SGEMM n=256', params: { batch: 1, n: 256 }, unit: 'GFLOP/s', flops_per_item: 1e9 },
  { id: 'w4_1024', title: 'W4 SGEMM n=1024', params: { batch: 1, n: 1024 }, unit: 'GFLOP/s', flops_per_item: 1e9 },
];

/**
 * T1: time to reach this test accuracy on the full Fashion-MNIST, with W1's model and optimizer,
 * the learning rate divided by 10 every 10 epochs (StepLR): at a constant rate PyTorch and
 * stride's native runs plateaued at 0.900-0.908 within 30 epochs.
 */
export const T1 = { target: 0.91, batch: 64, ...SGD, lr_step_size: 10, lr_gamma: 0.1, max_epochs: 30, seed: 0 };

export const MACS = { lenet5: LENET_MACS, resnet20: RESNET20_MACS, resnet18: RESNET18_MACS };

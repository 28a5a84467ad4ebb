/** The benchmark's initialisation, the same in every system: Glorot-uniform weights, zero biases (BatchNorm keeps 1 and 0). */
import * as nn from '../../src/nn/index.js';

export function glorotInit(model: nn.Module): void {
  for (const m of model.modules()) {
    if (m instanceof nn.Conv2d || m instanceof nn.Linear) {
      nn.init.xavier_uniform_(m.weight);
      if (m.bias) nn.init.zeros_(m.bias);
    }
  }
}

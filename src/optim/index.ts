/** stride/optim: optimizers and learning-rate schedules with torch.optim's semantics. */
export { Optimizer, type ParamGroup, type ParamsInput, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adagrad, type AdagradOptions } from './adagrad.js';
export { RMSprop, type RMSpropOptions } from './rmsprop.js';
export { Adam, AdamW, type AdamOptions } from './adam.js';
export { LAMB, type LAMBOptions } from './lamb.js';
export * as lr_scheduler from './lr_scheduler.js';

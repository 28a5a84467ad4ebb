/** Checking a model description (a run's model.json, or a checkpoint's metadata) before building its model. */
import type { ModelInfo } from '../../src/cli/commands.js';
import { StrideError } from '../../src/tensor/errors.js';
import { CUSTOM_MODEL } from '../../src/models/layer_list.js';

/** Throws unless `value` has every field of a ModelInfo with the right types. */
export function checkModelInfo(value: unknown, source: string): ModelInfo {
  const v = value as Partial<ModelInfo> | null;
  const numbers = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === 'number');
  const problems = [
    typeof v?.model === 'string' ? '' : 'model (a model name)',
    typeof v?.options === 'object' && v.options !== null ? '' : 'options (an object)',
    v?.model !== CUSTOM_MODEL || Array.isArray(v.options?.['layers']) ? '' : 'options.layers (the custom model\'s list of layers)',
    Array.isArray(v?.classes) && v.classes.every((c) => typeof c === 'string') ? '' : 'classes (a list of names)',
    numbers(v?.mean) && numbers(v?.std) ? '' : 'mean and std (lists of numbers)',
    numbers(v?.input_shape) && v!.input_shape!.length === 3 ? '' : 'input_shape ([C, H, W])',
  ].filter(Boolean);
  if (problems.length) throw new StrideError(`${source}: the model description lacks ${problems.join(', ')}`);
  return v as ModelInfo;
}

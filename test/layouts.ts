/** Non-contiguous fixture inputs, mirroring tools/fixtures/layouts.py. */
import type { Tensor } from '../src/index.js';
import type { FixtureRunner } from './helpers.js';

export type Layout = 'T' | 'S' | 'R' | null;

/** The view a fixture case takes of a stored input before the op runs. */
export function viewAs(x: Tensor, how: Layout): Tensor {
  switch (how) {
    case null: return x;
    case 'T': return x.transpose(-2, -1);
    case 'S': return x.slice(-1, 0, undefined, 2);
    case 'R': return x.permute([...x.shape.keys()].reverse());
  }
}

/** Wraps runners so that each first views its inputs as the case's args.layout says. */
export function withLayouts(runners: Record<string, FixtureRunner>): Record<string, FixtureRunner> {
  return Object.fromEntries(
    Object.entries(runners).map(([op, run]) => [
      op,
      (inputs: Tensor[], args: { layout?: Layout[] }) => run(inputs.map((x, i) => viewAs(x, args.layout?.[i] ?? null)), args),
    ]),
  );
}

import type { StrategyName } from '../constants.ts';
import { collectByFullScan } from './full-scan.ts';
import { collectBySightingsFirst } from './sightings-first.ts';
import type { CollectStrategy } from './types.ts';

const STRATEGIES: Record<StrategyName, CollectStrategy> = {
  'sightings-first': collectBySightingsFirst,
  'full-scan': collectByFullScan,
};

/** Returns the strategy that the `strategy` input names. */
export function selectStrategy(name: StrategyName): CollectStrategy {
  return STRATEGIES[name];
}

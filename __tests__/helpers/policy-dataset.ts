/**
 * The dataset that the action and command-line tests share, so that both prove the same
 * decisions. The policy to run it with is POLICY_INPUTS.
 */
import { buildDataset, repeat } from './misp-dataset.ts';

export const MINIMAL = 1_780_272_000; // 2026-06-01T00:00:00Z
export const AFTER = MINIMAL + 86_400;

export const POLICY_INPUTS = { 'minimal-fp': '1', threshold: '0.5', 'minimal-sighting-date': '2026-06-01T00:00:00Z' };

/**
 * Event 1 (published): 101 demoted (ratio 0.5), 102 kept (below threshold), 103 demoted inside an
 * object, 104 deleted with FP, 105 already to_ids false with FP.
 * Event 2 (draft): 201 demoted, 202 kept (FP at the minimal date only).
 * Event 3 (published): 301 kept (FP equal to minimal-fp).
 */
export function policyDataset() {
  return buildDataset([
    {
      id: 1,
      info: 'Phishing wave',
      published: true,
      attributes: [
        { id: 101, sightings: [...repeat(2, 1, AFTER), ...repeat(2, 0, AFTER), ...repeat(4, 2, AFTER)] },
        { id: 102, sightings: [...repeat(2, 1, AFTER), ...repeat(3, 0, AFTER)] },
        { id: 103, inObject: true, sightings: repeat(3, 1, AFTER) },
        { id: 104, deleted: true, sightings: repeat(9, 1, AFTER) },
        { id: 105, toIds: false, sightings: repeat(9, 1, AFTER) },
      ],
    },
    {
      id: 2,
      info: 'Draft event',
      published: false,
      attributes: [
        { id: 201, type: 'domain', value: 'cdn.example', sightings: repeat(2, 1, MINIMAL + 1) },
        { id: 202, sightings: repeat(5, 1, MINIMAL) },
      ],
    },
    { id: 3, info: 'Quiet event', published: true, attributes: [{ id: 301, sightings: repeat(1, 1, AFTER) }] },
  ]);
}


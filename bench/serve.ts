/**
 * Benchmark server process: generates a synthetic instance in the MISP sandbox, serves it on
 * loopback, and prints one JSON line with its URL, its size and the minimum bytes a
 * sightings-first run must receive. It runs until its stdin closes, so it ends with the
 * benchmark that started it.
 *
 * Usage: node bench/serve.ts --attributes N --minimal-epoch EPOCH --minimal-fp N
 */
import { parseArgs } from 'node:util';
import { searchedSighting } from '../sandbox/format.ts';
import { restSearchAttribute } from '../sandbox/handlers/attributes.ts';
import { startSandbox } from '../sandbox/server.ts';
import type { Store } from '../sandbox/store.ts';
import { buildSyntheticStore, DEFAULT_SYNTHETIC_SPEC } from '../sandbox/synthetic.ts';

export interface ServeInfo {
  url: string;
  key: string;
  /** Epoch seconds of the sandbox clock. */
  now: number;
  loadSeconds: number;
  attributes: number;
  sightings: number;
  falsePositiveSightings: number;
  /** Sandbox heap after loading, in bytes. */
  heapBytes: number;
  minimum: MinimumBytes;
}

/**
 * The JSON bytes that any run deciding like sightings-first must receive. They are every
 * false-positive sighting dated after the minimal date (with its attribute, as the search sends
 * it), the true-positive sightings of the attributes with more than minimal-fp of them, and those
 * attributes. Each is sized as the sandbox serialises it, plus one comma.
 */
export interface MinimumBytes {
  falsePositiveSightings: number;
  candidateTruePositives: number;
  candidateAttributes: number;
  total: number;
}

const RESPONSE_ENVELOPE = '{"response": []}\n'.length;
const ATTRIBUTE_ENVELOPE = '{"response": {"Attribute": []}}\n'.length;

function minimumBytes(store: Store, minimalEpoch: number, minimalFp: number): MinimumBytes {
  const table = store.sightings;
  const falsePositivesByAttribute = new Map<number, number>();
  let falsePositiveSightings = RESPONSE_ENVELOPE;
  for (let row = 0; row < table.size; row++) {
    if (table.type(row) !== 1 || !(table.dateSighting(row) > minimalEpoch)) continue;
    falsePositiveSightings += JSON.stringify(searchedSighting(store, row, { includeAttribute: true, includeEvent: false, includeUuid: false })).length + 1;
    falsePositivesByAttribute.set(table.attributeId(row), (falsePositivesByAttribute.get(table.attributeId(row)) ?? 0) + 1);
  }

  let candidateTruePositives = RESPONSE_ENVELOPE;
  let candidateAttributes = ATTRIBUTE_ENVELOPE;
  for (const [attributeId, count] of falsePositivesByAttribute) {
    if (!(count > minimalFp)) continue;
    const attribute = store.attributes.get(attributeId);
    if (attribute === undefined || attribute.deleted || !attribute.toIds) continue;
    candidateAttributes += JSON.stringify(restSearchAttribute(store, attribute, false, false)).length + 1;
    for (const row of attribute.sightingRows ?? []) {
      if (table.type(row) !== 0 || !(table.dateSighting(row) > minimalEpoch)) continue;
      candidateTruePositives += JSON.stringify(searchedSighting(store, row, { includeAttribute: false, includeEvent: false, includeUuid: false })).length + 1;
    }
  }
  return {
    falsePositiveSightings,
    candidateTruePositives,
    candidateAttributes,
    total: falsePositiveSightings + candidateTruePositives + candidateAttributes,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      attributes: { type: 'string' },
      'minimal-epoch': { type: 'string' },
      'minimal-fp': { type: 'string' },
    },
  });
  const attributes = Number(values.attributes);
  const minimalEpoch = Number(values['minimal-epoch']);
  const minimalFp = Number(values['minimal-fp']);
  for (const [name, value] of [['attributes', attributes], ['minimal-epoch', minimalEpoch], ['minimal-fp', minimalFp]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, got ${String(value)}`);
  }

  const spec = { ...DEFAULT_SYNTHETIC_SPEC, idsAttributes: attributes };
  const started = performance.now();
  const store = buildSyntheticStore(spec);
  const loadSeconds = (performance.now() - started) / 1000;
  // A MISP database keeps its indexes up to date; build the sandbox's date index before timing.
  store.sightings.rowsOfTypeBetween(1, 0, 0);

  const sandbox = await startSandbox({ store, now: () => spec.now });
  let falsePositiveSightings = 0;
  for (let row = 0; row < store.sightings.size; row++) if (store.sightings.type(row) === 1) falsePositiveSightings++;
  const info: ServeInfo = {
    url: sandbox.url,
    key: sandbox.key,
    now: spec.now,
    loadSeconds,
    attributes: store.attributes.size,
    sightings: store.sightings.size,
    falsePositiveSightings,
    heapBytes: process.memoryUsage().heapUsed,
    minimum: minimumBytes(store, minimalEpoch, minimalFp),
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);

  // The benchmark sends nothing on stdin; its end (the benchmark exiting or closing the pipe) stops the server.
  process.stdin.resume();
  process.stdin.on('end', () => {
    void sandbox.close().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  console.error(`bench/serve.ts: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

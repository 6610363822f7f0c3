/**
 * Benchmark client process: one dry run of misp-fp-demote with one strategy against the sandbox
 * that bench/serve.ts started, measured from inside: requests, response body bytes as undici
 * received them, TCP connections, wall time of the run and this process's peak RSS. Prints one
 * JSON line. Each run gets its own process so that peak RSS belongs to one strategy and size.
 *
 * Usage: node bench/client.ts --url URL --key KEY --strategy NAME --now EPOCH
 *          --minimal-sighting-date DATE --minimal-fp N --threshold RATIO
 */
import { createHash } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { parseArgs } from 'node:util';
import { INPUT_DEFAULTS, type InputName } from '../src/constants.ts';
import { MemoryJournal } from '../src/journal.ts';
import { silentLogger } from '../src/logger.ts';
import { MispClient } from '../src/misp-client.ts';
import { runDemotion } from '../src/run.ts';
import { parseSettings } from '../src/settings.ts';
import { selectStrategy } from '../src/strategies/index.ts';

export type RequestKind = 'false-positive sightings' | 'true-positive sightings' | 'attributes' | 'events' | 'other';

export interface ClientResult {
  strategy: string;
  wallSeconds: number;
  /** The strategy's part of wallSeconds: finding the attributes to demote. */
  strategySeconds: number;
  requests: number;
  connections: number;
  /** Response body bytes, as received, by kind of request. */
  bytes: Record<RequestKind, number>;
  totalBytes: number;
  /** Peak resident set size of this process, in bytes (getrusage ru_maxrss). */
  peakRssBytes: number;
  /** Resident set size once the modules were loaded, before the run. */
  startRssBytes: number;
  evaluated: number;
  wouldDemote: number;
  /** SHA-256 of the sorted "id:FP:TP" of the attributes to demote, to compare strategies. */
  decisionsDigest: string;
}

interface UndiciRequest {
  method: string;
  path: string;
  body?: unknown;
}

function requestKind(request: UndiciRequest): RequestKind {
  if (request.path.startsWith('/sightings/restSearch')) {
    const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
    return /"type":0/.test(body) ? 'true-positive sightings' : 'false-positive sightings';
  }
  if (request.path.startsWith('/attributes/restSearch')) return 'attributes';
  if (request.path.startsWith('/events/index')) return 'events';
  return 'other';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      strategy: { type: 'string' },
      now: { type: 'string' },
      'minimal-sighting-date': { type: 'string' },
      'minimal-fp': { type: 'string' },
      threshold: { type: 'string' },
    },
  });

  const bytes: Record<RequestKind, number> = {
    'false-positive sightings': 0,
    'true-positive sightings': 0,
    attributes: 0,
    events: 0,
    other: 0,
  };
  const kinds = new WeakMap<object, RequestKind>();
  let requests = 0;
  let connections = 0;
  subscribe('undici:request:create', (message) => {
    const { request } = message as { request: UndiciRequest };
    requests++;
    kinds.set(request, requestKind(request));
  });
  subscribe('undici:request:bodyChunkReceived', (message) => {
    const { request, chunk } = message as { request: UndiciRequest; chunk: Buffer };
    bytes[kinds.get(request) ?? 'other'] += chunk.length;
  });
  subscribe('undici:client:connected', () => {
    connections++;
  });

  const inputs: Partial<Record<InputName, string>> = {
    'misp-url': values.url,
    'misp-key': values.key,
    strategy: values.strategy,
    'dry-run': 'true',
    'minimal-sighting-date': values['minimal-sighting-date'],
    'minimal-fp': values['minimal-fp'],
    threshold: values.threshold,
    'max-demotions': '1000000',
    'page-size': INPUT_DEFAULTS['page-size'],
  };
  const { settings } = parseSettings((name) => inputs[name], new Date(Number(values.now) * 1000));
  const misp = new MispClient({
    baseUrl: settings.mispUrl,
    key: settings.mispKey,
    connection: { verifyTls: true, caCert: '', clientCert: '', clientKey: '', timeoutMs: settings.timeoutSeconds * 1000 },
    logger: silentLogger,
    userAgent: 'misp-fp-demote-bench',
  });

  const strategy = selectStrategy(settings.strategy);
  let strategySeconds = 0;
  const startRssBytes = process.memoryUsage().rss;
  const started = performance.now();
  const report = await runDemotion(settings, {
    misp,
    logger: silentLogger,
    now: () => new Date(),
    toolVersion: 'bench',
    journal: new MemoryJournal(),
    strategy: async (...args) => {
      const strategyStarted = performance.now();
      const collection = await strategy(...args);
      strategySeconds = (performance.now() - strategyStarted) / 1000;
      return collection;
    },
  });
  const wallSeconds = (performance.now() - started) / 1000;
  await misp.close();

  const decisions = report.rows.map((row) => `${row.attributeId}:${row.falsePositives}:${row.truePositives}`).sort();
  const result: ClientResult = {
    strategy: settings.strategy,
    wallSeconds,
    strategySeconds,
    requests,
    connections,
    bytes,
    totalBytes: Object.values(bytes).reduce((sum, count) => sum + count, 0),
    // ru_maxrss is in kilobytes on Linux.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    startRssBytes,
    evaluated: report.counts.evaluated,
    wouldDemote: report.counts.wouldDemote,
    decisionsDigest: createHash('sha256').update(decisions.join('\n')).digest('hex'),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(`bench/client.ts: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});

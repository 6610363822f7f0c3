/**
 * Benchmark of the two strategies on synthetic MISP instances of growing size. For each size it
 * starts bench/serve.ts, the sandbox with a generated instance, in one process. Each strategy then
 * runs as a dry run in processes of its own (bench/client.ts, bundled with ncc as the action
 * ships). At the end it prints a table and writes a Markdown page with the measurements.
 *
 * Usage: npm run bench [-- --sizes 10000,100000,1000000] [--runs 9] [--full-scan-runs 3] [--output docs/benchmarks.md]
 * Without --output, the page is written to docs/benchmarks.md only when every default size ran.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_SYNTHETIC_SPEC } from '../sandbox/synthetic.ts';
import type { ClientResult } from './client.ts';
import { renderPage, renderTable, type SizeResult, type StrategyResult } from './report.ts';
import type { ServeInfo } from './serve.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_SIZES = [10_000, 100_000, 1_000_000];
const DEFAULT_OUTPUT = path.join('docs', 'benchmarks.md');
const STRATEGIES = ['sightings-first', 'full-scan'] as const;

/** The policy of every run: sightings of the last year count, demote above one false positive at a ratio of 0.5. */
const MINIMAL_SIGHTING_EPOCH = DEFAULT_SYNTHETIC_SPEC.now - 365 * 86_400;
const MINIMAL_FP = 1;
const THRESHOLD = '0.5';

/** Upper bounds on each child process, so a stuck run ends the benchmark instead of hanging it. */
const SERVE_START_TIMEOUT_MS = 10 * 60_000;
const CLIENT_TIMEOUT_MS = 20 * 60_000;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      runs: { type: 'string', default: '9' },
      'full-scan-runs': { type: 'string', default: '3' },
      output: { type: 'string' },
    },
  });
  const sizes = values.sizes === undefined ? DEFAULT_SIZES : values.sizes.split(',').map((size) => Number(size.trim()));
  for (const size of sizes) {
    if (!Number.isSafeInteger(size) || size < DEFAULT_SYNTHETIC_SPEC.fpAttributes) {
      throw new Error(`--sizes: "${size}" is not valid; give whole numbers of at least ${DEFAULT_SYNTHETIC_SPEC.fpAttributes}, comma-separated, such as 10000,100000`);
    }
  }
  const runCount = (name: string, text: string) => {
    const count = Number(text);
    if (!Number.isSafeInteger(count) || count < 1 || count > 50) throw new Error(`--${name}: "${text}" is not valid; give a whole number from 1 to 50`);
    return count;
  };
  const runs = { 'sightings-first': runCount('runs', values.runs), 'full-scan': runCount('full-scan-runs', values['full-scan-runs']) };
  const output = values.output ?? (values.sizes === undefined ? DEFAULT_OUTPUT : undefined);
  return { sizes, runs, output };
}

/** Bundles bench/client.ts with ncc, as the action's dist/ is bundled, so RSS is not inflated by TypeScript stripping. */
function bundleClient(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'misp-fp-bench-'));
  const ncc = path.join(ROOT, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');
  const result = spawnSync(process.execPath, [ncc, 'build', path.join(ROOT, 'bench', 'client.ts'), '-o', directory, '-q'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`bundling bench/client.ts with ncc failed (exit status ${result.status})`);
  return path.join(directory, 'index.js');
}

/** Starts bench/serve.ts and waits for its first line. The server stops when its stdin closes. */
async function startServer(size: number): Promise<{ info: ServeInfo; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bench', 'serve.ts'), '--attributes', String(size), '--minimal-epoch', String(MINIMAL_SIGHTING_EPOCH), '--minimal-fp', String(MINIMAL_FP)],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const timer = setTimeout(() => child.kill(), SERVE_START_TIMEOUT_MS);
  try {
    for await (const line of lines) {
      clearTimeout(timer);
      lines.close();
      const info = JSON.parse(line) as ServeInfo;
      return {
        info,
        stop: async () => {
          child.stdin.end();
          await exited;
        },
      };
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`bench/serve.ts for ${size} attributes exited before it printed its address (exit code ${child.exitCode})`);
}

function runClient(bundle: string, info: ServeInfo, strategy: string): ClientResult {
  const result = spawnSync(
    process.execPath,
    [
      bundle,
      '--url', info.url,
      '--key', info.key,
      '--strategy', strategy,
      '--now', String(info.now),
      '--minimal-sighting-date', String(MINIMAL_SIGHTING_EPOCH),
      '--minimal-fp', String(MINIMAL_FP),
      '--threshold', THRESHOLD,
    ],
    { encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (result.status !== 0) {
    throw new Error(`the ${strategy} client failed (exit status ${result.status}${result.signal ? `, signal ${result.signal}` : ''})`);
  }
  return JSON.parse(result.stdout.trim()) as ClientResult;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function summarise(strategy: string, runs: ClientResult[]): StrategyResult {
  const first = runs[0]!;
  for (const run of runs) {
    if (run.totalBytes !== first.totalBytes || run.requests !== first.requests || run.decisionsDigest !== first.decisionsDigest) {
      throw new Error(`${strategy}: runs on the same instance differ in requests, bytes or decisions; the benchmark is not deterministic`);
    }
  }
  return {
    strategy,
    runs: runs.length,
    requests: first.requests,
    connections: Math.max(...runs.map((run) => run.connections)),
    bytes: first.bytes,
    totalBytes: first.totalBytes,
    wallSeconds: median(runs.map((run) => run.wallSeconds)),
    strategySeconds: median(runs.map((run) => run.strategySeconds)),
    peakRssBytes: Math.max(...runs.map((run) => run.peakRssBytes)),
    startRssBytes: Math.max(...runs.map((run) => run.startRssBytes)),
    evaluated: first.evaluated,
    wouldDemote: first.wouldDemote,
    decisionsDigest: first.decisionsDigest,
  };
}

async function main(): Promise<void> {
  const options = parseOptions();
  console.log(`Bundling the benchmark client with ncc...`);
  const bundle = bundleClient();
  const results: SizeResult[] = [];
  try {
    for (const size of options.sizes) {
      console.log(`\n${size} IDS attributes: generating the instance...`);
      const server = await startServer(size);
      try {
        const { info } = server;
        console.log(`  ${info.sightings} sightings (${info.falsePositiveSightings} false positives) generated in ${info.loadSeconds.toFixed(1)} s; sandbox at ${info.url}`);
        // One discarded run, so that the sandbox's code is compiled, as a running MISP's is, before anything is timed.
        runClient(bundle, info, 'sightings-first');
        const strategies: StrategyResult[] = [];
        for (const strategy of STRATEGIES) {
          const runs: ClientResult[] = [];
          for (let run = 1; run <= options.runs[strategy]; run++) {
            const result = runClient(bundle, info, strategy);
            console.log(`  ${strategy} run ${run}: ${result.requests} requests, ${result.totalBytes} bytes, ${result.wallSeconds.toFixed(2)} s, peak RSS ${(result.peakRssBytes / 1e6).toFixed(0)} MB`);
            runs.push(result);
          }
          strategies.push(summarise(strategy, runs));
        }
        if (new Set(strategies.map((strategy) => strategy.decisionsDigest)).size !== 1) {
          throw new Error(`at ${size} attributes the strategies chose different attributes to demote`);
        }
        results.push({ size, serve: info, strategies });
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(path.dirname(bundle), { recursive: true, force: true });
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    node: process.version,
    kernel: `${process.platform} ${release()}`,
  };
  const settings = { minimalSightingEpoch: MINIMAL_SIGHTING_EPOCH, minimalFp: MINIMAL_FP, threshold: THRESHOLD, runs: options.runs };
  console.log(`\n${renderTable(results)}`);
  if (options.output === undefined) {
    console.log('\nNot written to a file: with --sizes, pass --output FILE to keep the page.');
    return;
  }
  const output = path.resolve(ROOT, options.output);
  mkdirSync(path.dirname(output), { recursive: true });
  writeFileSync(output, renderPage(results, machine, settings));
  console.log(`\nWrote ${options.output}.`);
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});

/**
 * Checks that a run's edits and publishes reuse keep-alive connections: undici's Agent keeps
 * connections open between requests, so the number of TCP connections follows max-concurrency,
 * not the number of requests.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';
import { MemoryJournal } from '../src/journal.ts';
import { silentLogger } from '../src/logger.ts';
import { MispClient } from '../src/misp-client.ts';
import { runDemotion } from '../src/run.ts';
import type { Settings } from '../src/settings.ts';
import { collectBySightingsFirst } from '../src/strategies/sightings-first.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { testSettings } from './helpers/settings-fixture.ts';

const CLOCK = 1_796_400_000;
const RECENT = CLOCK - 86_400;

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

function settingsFor(mispUrl: string, maxConcurrency: number): Settings {
  return testSettings({
    mispUrl,
    republish: 'always',
    maxConcurrency,
  });
}

describe('connection reuse', () => {
  it('edits and publishes over a few connections', async () => {
    // 24 attributes to demote in 8 events: 24 edits and 8 publishes after the searches.
    const events = Array.from({ length: 8 }, (_, index) => ({
      id: index + 1,
      attributes: Array.from({ length: 3 }, (_, offset) => ({ id: index * 10 + offset + 1, sightings: repeat(2, 1, RECENT) })),
    }));
    sandbox = await startSandbox({ dataset: buildDataset(events), now: () => CLOCK });
    const misp = new MispClient({
      baseUrl: sandbox.url,
      key: sandbox.key,
      connection: { verifyTls: true, caCert: '', clientCert: '', clientKey: '', timeoutMs: 10_000 },
      logger: silentLogger,
      userAgent: 'keep-alive-test',
    });

    let connections = 0;
    const onConnected = () => {
      connections++;
    };
    subscribe('undici:client:connected', onConnected);
    try {
      const report = await runDemotion(settingsFor(sandbox.url, 4), {
        misp,
        logger: silentLogger,
        now: () => new Date(CLOCK * 1000),
        toolVersion: 'test',
        journal: new MemoryJournal(),
        strategy: collectBySightingsFirst,
      });
      expect(report.counts.demoted).toBe(24);
      expect(sandbox.publishes).toHaveLength(8);
    } finally {
      unsubscribe('undici:client:connected', onConnected);
      await misp.close();
    }

    expect(sandbox.calls.length).toBeGreaterThan(40);
    // undici 8.14 opens a second connection when a request starts while the reply before it on
    // the first is still being completed, so up to twice max-concurrency connections carry them all.
    expect(connections).toBeLessThanOrEqual(8);
  });
});

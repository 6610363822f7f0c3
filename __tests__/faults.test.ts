/**
 * Runs against the sandbox while it injects server, proxy and network faults. Under every fault
 * the report must match what the sandbox actually changed: each stored edit and publish is in
 * the report, and nothing the sandbox did not change is reported as changed.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from '../sandbox/faults.ts';
import { type RecordedCall, type Sandbox, type SandboxOptions, startSandbox } from '../sandbox/server.ts';
import { executeRun } from '../src/execute.ts';
import type { JournalRecord } from '../src/journal.ts';
import type { RunReport } from '../src/report-model.ts';
import type { RetryPolicy } from '../src/retry.ts';
import { parseSettings } from '../src/settings.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { recordingLogger } from './helpers/recording-logger.ts';
import { runAction } from './helpers/run-action.ts';

const SIGHTED_AT = 1_780_358_400; // 2026-06-02T00:00:00Z

/**
 * Event 1 (published): 101 and 102 demoted, 103 kept (true positives only).
 * Event 2 (published): 201 demoted.
 * Event 3 (draft): 301 demoted, and the event stays unpublished (republish: published-only).
 */
function dataset() {
  return buildDataset([
    {
      id: 1,
      info: 'Phishing wave',
      published: true,
      attributes: [
        { id: 101, sightings: repeat(2, 1, SIGHTED_AT) },
        { id: 102, sightings: repeat(3, 1, SIGHTED_AT) },
        { id: 103, sightings: repeat(3, 0, SIGHTED_AT) },
      ],
    },
    { id: 2, info: 'Scanner list', published: true, attributes: [{ id: 201, sightings: repeat(2, 1, SIGHTED_AT) }] },
    { id: 3, info: 'Draft event', published: false, attributes: [{ id: 301, sightings: repeat(2, 1, SIGHTED_AT) }] },
  ]);
}

const ATTRIBUTE_IDS = ['101', '102', '103', '201', '301'];
const EVENT_IDS = ['1', '2', '3'];
const TO_DEMOTE = ['101', '102', '201', '301'];

/** Short waits so that in-process runs retry within milliseconds; Retry-After still overrides them. */
const FAST_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100, maxTotalWaitMs: 5_000 };

/** Node's timers may fire a few milliseconds before the requested time; waits are checked with this margin. */
const TIMER_MARGIN_MS = 50;

let sandboxes: Sandbox[] = [];
const tempDirs: string[] = [];
afterEach(async () => {
  await Promise.all(sandboxes.map((sandbox) => sandbox.close()));
  sandboxes = [];
});
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function start(faults: FaultSpec[] = [], options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = await startSandbox({ dataset: dataset(), faults, ...options });
  sandboxes.push(sandbox);
  return sandbox;
}

async function makeTempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'misp-fp-demote-faults-'));
  tempDirs.push(dir);
  return dir;
}

interface SandboxState {
  toIds: Map<string, boolean>;
  published: Map<string, boolean>;
  publishCount: number;
}

function snapshot(sandbox: Sandbox): SandboxState {
  return {
    toIds: new Map(ATTRIBUTE_IDS.map((id) => [id, sandbox.getAttribute(id)?.to_ids === true])),
    published: new Map(EVENT_IDS.map((id) => [id, sandbox.getEvent(id)?.published === true])),
    publishCount: sandbox.publishes.length,
  };
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

/**
 * Checks the report against the sandbox. The demoted rows must be exactly the attributes whose
 * to_ids the sandbox turned off, and the republished events exactly the events it published
 * during the run. Every event the run left unpublished must be in the report's events.
 */
function expectReportMatchesSandbox(report: RunReport, sandbox: Sandbox, before: SandboxState): void {
  const after = snapshot(sandbox);
  const changed = ATTRIBUTE_IDS.filter((id) => before.toIds.get(id) && !after.toIds.get(id));
  const demoted = report.rows.filter((row) => row.result === 'demoted').map((row) => row.attributeId);
  expect(sorted(demoted)).toEqual(sorted(changed));

  const published = sandbox.publishes.slice(before.publishCount);
  const republished = report.events.filter((event) => event.result === 'republished').map((event) => event.eventId);
  expect(sorted(republished)).toEqual(sorted(published));

  const unpublishedByRun = EVENT_IDS.filter((id) => before.published.get(id) && !after.published.get(id));
  for (const eventId of unpublishedByRun) expect(report.events.map((event) => event.eventId)).toContain(eventId);
}

/** Checks that the journal contains every change the report lists as made, and no other. */
function expectJournalMatchesReport(journalFile: string, report: RunReport): void {
  const records = readJournal(journalFile);
  const journaledEdits = records.flatMap((record) => (record.kind === 'attribute-demoted' ? [record.attributeId] : []));
  const journaledPublishes = records.flatMap((record) => (record.kind === 'event-published' ? [record.eventId] : []));
  expect(sorted(journaledEdits)).toEqual(sorted(report.rows.filter((row) => row.result === 'demoted').map((row) => row.attributeId)));
  expect(sorted(journaledPublishes)).toEqual(
    sorted(report.events.filter((event) => event.result === 'republished').map((event) => event.eventId)),
  );
}

function readJournal(file: string): JournalRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as JournalRecord);
}

function rowResults(report: RunReport): Record<string, string> {
  return Object.fromEntries(report.rows.map((row) => [row.attributeId, row.result]));
}

function eventResults(report: RunReport): Record<string, string> {
  return Object.fromEntries(report.events.map((event) => [event.eventId, event.result]));
}

function callsTo(sandbox: Sandbox, method: string, pathOrPattern: string | RegExp): RecordedCall[] {
  return sandbox.calls.filter(
    (call) => call.method === method && (typeof pathOrPattern === 'string' ? call.path === pathOrPattern : pathOrPattern.test(call.path)),
  );
}

/** Returns the exit status the action and the command line give a finished run: 1 when anything failed. */
function exitStatusOf(report: RunReport): number {
  return report.failures.length > 0 ? 1 : 0;
}

/** Runs the shared core in-process, as both entry points do, with FAST_RETRY unless `retry` is given. */
async function runInProcess(sandbox: Sandbox, inputs: Record<string, string> = {}, retry: RetryPolicy = FAST_RETRY) {
  const reportDir = await makeTempDir();
  const values: Record<string, string> = { 'misp-url': sandbox.url, 'misp-key': sandbox.key, 'report-dir': reportDir, ...inputs };
  const { settings } = parseSettings((name) => values[name], new Date());
  const logger = recordingLogger();
  const result = await executeRun(settings, { logger, toolVersion: 'test', defaultReportDir: reportDir, retry });
  return { ...result, logger };
}

async function readReportJson(file: string | undefined): Promise<RunReport> {
  expect(file).toBeTruthy();
  return JSON.parse(await readFile(file!, 'utf8')) as RunReport;
}

/** Decodes the %0A escapes that @actions/core writes into workflow command messages. */
function decodeCommands(stdout: string): string {
  return stdout.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

function baseInputs(sandbox: Sandbox): Record<string, string> {
  return { 'misp-url': sandbox.url, 'misp-key': sandbox.key, 'artifact-name': '' };
}

async function send(sandbox: Sandbox, method: string, urlPath: string, body?: unknown, signal?: AbortSignal) {
  const response = await fetch(`${sandbox.url}${urlPath}`, {
    method,
    headers: { authorization: sandbox.key, accept: 'application/json', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    redirect: 'manual',
    signal,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe('sandbox faults', () => {
  it('fail only the chosen requests', async () => {
    const sandbox = await start([{ method: 'GET', path: '/servers/getVersion', kind: 'status', status: 503, times: 2 }]);

    expect((await send(sandbox, 'GET', '/servers/getVersion')).status).toBe(503);
    expect((await send(sandbox, 'GET', '/users/view/me')).status).toBe(200);
    expect((await send(sandbox, 'GET', '/servers/getVersion')).status).toBe(503);
    expect((await send(sandbox, 'GET', '/servers/getVersion')).status).toBe(200);
    expect(sandbox.calls.map((call) => [call.path, call.status, call.fault])).toEqual([
      ['/servers/getVersion', 503, 'status 503'],
      ['/users/view/me', 200, undefined],
      ['/servers/getVersion', 503, 'status 503'],
      ['/servers/getVersion', 200, undefined],
    ]);
  });

  it('let requests through before after', async () => {
    const sandbox = await start();
    sandbox.injectFault({ path: /^\/attributes\/edit\//, kind: 'status', status: 502, body: 'html', after: 1 });

    expect((await send(sandbox, 'POST', '/attributes/edit/101', { to_ids: false })).status).toBe(200);
    const failed = await send(sandbox, 'POST', '/attributes/edit/102', { to_ids: false });
    expect(failed.status).toBe(502);
    expect(failed.text).toContain('<h1>502 Bad Gateway</h1>');
    expect(sandbox.getAttribute(102)?.to_ids).toBe(true);
  });

  it('send MISP error JSON, rate limits, login pages and 403', async () => {
    const sandbox = await start([
      { path: '/events/index', kind: 'status', status: 500, body: 'json' },
      { path: '/events/index', kind: 'rate-limit', retryAfter: 7 },
      { path: '/events/index', kind: 'rate-limit', retryAfter: 3, header: 'X-Rate-Limit-Reset' },
      { path: '/events/index', kind: 'login-page' },
      { path: '/events/index', kind: 'login-page', status: 200 },
      { path: '/events/index', kind: 'forbidden' },
    ]);

    const internal = await send(sandbox, 'POST', '/events/index', {});
    expect(internal.status).toBe(500);
    expect(JSON.parse(internal.text)).toMatchObject({ message: 'An Internal Error Has Occurred.' });
    const limited = await send(sandbox, 'POST', '/events/index', {});
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '7']);
    const reset = await send(sandbox, 'POST', '/events/index', {});
    expect([reset.status, reset.headers.get('x-rate-limit-reset')]).toEqual([429, '3']);
    const redirect = await send(sandbox, 'POST', '/events/index', {});
    expect([redirect.status, redirect.headers.get('location')]).toEqual([302, `${sandbox.url}/users/login`]);
    const page = await send(sandbox, 'POST', '/events/index', {});
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=UTF-8']);
    const forbidden = await send(sandbox, 'POST', '/events/index', {});
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.text).message).toMatch(/^Authentication failed/);
    expect((await send(sandbox, 'POST', '/events/index', {})).status).toBe(200);
  });

  it('drop the connection without a reply', async () => {
    const sandbox = await start([{ path: '/attributes/edit/101', kind: 'drop' }]);

    await expect(send(sandbox, 'POST', '/attributes/edit/101', { to_ids: false })).rejects.toThrow();
    expect(sandbox.getAttribute(101)?.to_ids).toBe(true);
    expect(sandbox.calls[0]).toMatchObject({ status: 444, fault: 'drop' });
  });

  it('store the change before a failAfterApply reply', async () => {
    const sandbox = await start([
      { path: '/attributes/edit/101', kind: 'status', status: 500, body: 'json', failAfterApply: true },
      { path: '/events/publish/3', kind: 'drop', failAfterApply: true },
    ]);

    expect((await send(sandbox, 'POST', '/attributes/edit/101', { to_ids: false })).status).toBe(500);
    expect(sandbox.getAttribute(101)?.to_ids).toBe(false);
    await expect(send(sandbox, 'POST', '/events/publish/3')).rejects.toThrow();
    expect(sandbox.getEvent(3)?.published).toBe(true);
    expect(sandbox.publishes).toEqual(['3']);
    expect(sandbox.calls.map((call) => call.fault)).toEqual(['status 500 after apply', 'drop after apply']);
  });

  it('never handle a delayed request whose client left', async () => {
    const sandbox = await start([{ path: '/attributes/edit/101', kind: 'delay', ms: 300 }]);

    await expect(send(sandbox, 'POST', '/attributes/edit/101', { to_ids: false }, AbortSignal.timeout(50))).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(sandbox.getAttribute(101)?.to_ids).toBe(true);
    expect(sandbox.calls[0]).toMatchObject({ status: 499, fault: 'delay 300 ms' });
  });

  it('reply late after a delay', async () => {
    const sandbox = await start([{ path: '/servers/getVersion', kind: 'delay', ms: 200 }]);
    const startedAt = Date.now();

    expect((await send(sandbox, 'GET', '/servers/getVersion')).status).toBe(200);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200 - TIMER_MARGIN_MS);
  });

  it('reject invalid fault specs', async () => {
    const sandbox = await start();
    expect(() => sandbox.injectFault({ path: 'attributes/edit/1', kind: 'drop' })).toThrow(/must start with "\/"/);
    expect(() => sandbox.injectFault({ path: '/x', kind: 'forbidden', failAfterApply: true })).toThrow(/failAfterApply works with/);
    expect(() => sandbox.injectFault({ path: '/x', kind: 'status', status: 501 as 500 })).toThrow(/500, 502, 503 or 504/);
    expect(() => sandbox.injectFault({ path: '/x', kind: 'drop', times: 0 })).toThrow(/times must be/);
    expect(() => sandbox.injectFault({ path: '/x', kind: 'rate-limit', retryAfter: 1.5 })).toThrow(/retryAfter/);
  });
});

// Both strategies send every edit and publish the same way; they differ in how they search.
describe.each(['sightings-first', 'full-scan'])('run under server faults with %s', (strategy) => {
  const runWithStrategy = (sandbox: Sandbox, inputs: Record<string, string> = {}) => runInProcess(sandbox, { strategy, ...inputs });

  it('retries 5xx replies and finishes', async () => {
    const sandbox = await start([
      { method: 'GET', path: '/users/view/me', kind: 'status', status: 504 },
      { path: '/attributes/restSearch', kind: 'status', status: 503, times: 2 },
      { path: '/events/index', kind: 'status', status: 502, body: 'html' },
      { path: '/attributes/edit/101', kind: 'status', status: 500 },
      { path: '/events/publish/1', kind: 'status', status: 503, body: 'html' },
    ]);
    const before = snapshot(sandbox);

    const { report, journalFile, logger } = await runWithStrategy(sandbox);

    expect(rowResults(report)).toEqual({ 101: 'demoted', 102: 'demoted', 201: 'demoted', 301: 'demoted' });
    expect(eventResults(report)).toEqual({ 1: 'republished', 2: 'republished', 3: 'left-unpublished' });
    expect(report.failures).toEqual([]);
    expect(sandbox.calls.filter((call) => call.fault !== undefined)).toHaveLength(6);
    expect(callsTo(sandbox, 'POST', '/attributes/edit/101').map((call) => call.status)).toEqual([500, 200]);
    expect(logger.text()).toMatch(/POST \/events\/publish\/1: HTTP 503, attempt 1 of 3; retrying in/);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  });

  it('fails one edit past the retry budget', async () => {
    const sandbox = await start([{ path: '/attributes/edit/102', kind: 'status', status: 503, times: Infinity }]);
    const before = snapshot(sandbox);

    const { report, journalFile } = await runWithStrategy(sandbox);

    expect(rowResults(report)).toEqual({ 101: 'demoted', 102: 'failed', 201: 'demoted', 301: 'demoted' });
    expect(report.rows.find((row) => row.attributeId === '102')?.error).toMatch(
      /^POST \/attributes\/edit\/102: the server responded with HTTP 503 .*may be overloaded, restarting or down\. Gave up after 3 attempts\.$/,
    );
    expect(callsTo(sandbox, 'POST', '/attributes/edit/102')).toHaveLength(FAST_RETRY.maxAttempts);
    expect(report.failures).toEqual([{ operation: 'edit-attribute', id: '102', message: expect.stringContaining('HTTP 503') }]);
    expect(report.counts.failed).toBe(1);
    expect(eventResults(report)).toEqual({ 1: 'republished', 2: 'republished', 3: 'left-unpublished' });
    expect(exitStatusOf(report)).toBe(1);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  });

  it('gives up on a slow reply past timeout-seconds', async () => {
    // undici 8 checks its headers timeout on a timer that ticks every 499 ms, so a 1 s timeout
    // fires between about 1.0 and 1.5 s. A 1.5 s delay would race with it.
    const sandbox = await start([
      { path: '/attributes/restSearch', kind: 'delay', ms: 2_000 },
      { path: '/attributes/edit/201', kind: 'delay', ms: 2_000, times: Infinity },
    ]);
    const before = snapshot(sandbox);

    const { report, journalFile } = await runWithStrategy(sandbox, { 'timeout-seconds': '1' });

    // The search timed out once and was retried; every attempt of the edit of 201 timed out.
    expect(callsTo(sandbox, 'POST', '/attributes/restSearch')[0]).toMatchObject({ status: 499, fault: 'delay 2000 ms' });
    expect(callsTo(sandbox, 'POST', '/attributes/edit/201').map((call) => call.status)).toEqual([499, 499, 499]);
    expect(rowResults(report)).toEqual({ 101: 'demoted', 102: 'demoted', 201: 'failed', 301: 'demoted' });
    expect(report.rows.find((row) => row.attributeId === '201')?.error).toMatch(
      /timed out waiting for http:\/\/127\.0\.0\.1:\d+: raise timeout-seconds if MISP is slow\. Gave up after 3 attempts\./,
    );
    expect(sandbox.getAttribute(201)?.to_ids).toBe(true);
    expect(eventResults(report)).toEqual({ 1: 'republished', 3: 'left-unpublished' });
    expect(exitStatusOf(report)).toBe(1);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  }, 20_000);

  it('retries dropped connections', async () => {
    const sandbox = await start([
      { path: '/attributes/edit/101', kind: 'drop', times: 2 },
      { path: '/events/publish/2', kind: 'drop', times: Infinity },
    ]);
    const before = snapshot(sandbox);

    const { report, journalFile } = await runWithStrategy(sandbox);

    expect(callsTo(sandbox, 'POST', '/attributes/edit/101').map((call) => call.status)).toEqual([444, 444, 200]);
    expect(rowResults(report)).toEqual({ 101: 'demoted', 102: 'demoted', 201: 'demoted', 301: 'demoted' });
    expect(eventResults(report)).toEqual({ 1: 'republished', 2: 'publish-failed', 3: 'left-unpublished' });
    expect(report.events.find((event) => event.eventId === '2')?.error).toMatch(/^POST \/events\/publish\/2 failed: .*Gave up after 3 attempts\.$/);
    expect(sandbox.getEvent(2)?.published).toBe(false);
    expect(report.failures.map((failure) => [failure.operation, failure.id])).toEqual([['publish-event', '2']]);
    expect(exitStatusOf(report)).toBe(1);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  });

  it('waits as long as Retry-After and X-Rate-Limit-Reset say', async () => {
    const sandbox = await start([
      { path: '/events/index', kind: 'rate-limit', retryAfter: 1, header: 'X-Rate-Limit-Reset' },
      { path: '/attributes/edit/101', kind: 'rate-limit', retryAfter: 1 },
    ]);
    const before = snapshot(sandbox);

    const { report, logger } = await runWithStrategy(sandbox);

    // FAST_RETRY would wait at most 20 ms before the second attempt; the server asked for 1 s.
    for (const pathName of ['/events/index', '/attributes/edit/101']) {
      const [limited, retried] = callsTo(sandbox, 'POST', pathName);
      expect(limited).toMatchObject({ status: 429 });
      expect(retried!.receivedAt - limited!.receivedAt).toBeGreaterThanOrEqual(1_000 - TIMER_MARGIN_MS);
    }
    expect(logger.text()).toContain('POST /attributes/edit/101: rate limited, attempt 1 of 3; retrying in 1.0 s.');
    expect(report.failures).toEqual([]);
    expectReportMatchesSandbox(report, sandbox, before);
  });

  it('gives up at once when Retry-After passes the budget', async () => {
    const sandbox = await start([{ path: '/attributes/edit/101', kind: 'rate-limit', retryAfter: 10 }]);
    const before = snapshot(sandbox);

    const { report } = await runWithStrategy(sandbox);

    expect(callsTo(sandbox, 'POST', '/attributes/edit/101')).toHaveLength(1);
    expect(report.rows.find((row) => row.attributeId === '101')?.error).toMatch(
      /Gave up after 1 attempt: waiting 10 s more would pass the 5 s retry budget\.$/,
    );
    expect(rowResults(report)['101']).toBe('failed');
    expect(exitStatusOf(report)).toBe(1);
    expectReportMatchesSandbox(report, sandbox, before);
  });

  it('reports an edit stored before a dropped reply', async () => {
    const sandbox = await start([{ path: '/attributes/edit/101', kind: 'drop', failAfterApply: true }]);
    const before = snapshot(sandbox);

    const { report, journalFile } = await runWithStrategy(sandbox);

    // The first edit was stored and its reply lost. The retry edits an attribute whose to_ids is
    // already false; MISP accepts that and returns to_ids false. The row is "demoted", which is
    // true: this run made the change, with its first request.
    expect(callsTo(sandbox, 'POST', '/attributes/edit/101').map((call) => [call.status, call.fault])).toEqual([
      [444, 'drop after apply'],
      [200, undefined],
    ]);
    expect(rowResults(report)['101']).toBe('demoted');
    expect(report.failures).toEqual([]);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  });

  it('confirms an edit whose reply was an error', async () => {
    const sandbox = await start([{ path: '/attributes/edit/101', kind: 'status', status: 500, body: 'json', failAfterApply: true }]);
    const before = snapshot(sandbox);

    const { report, journalFile, logger } = await runWithStrategy(sandbox);

    // MISP's JSON 500 is not retried; reading the attribute again shows that the edit was stored.
    expect(callsTo(sandbox, 'POST', '/attributes/edit/101')).toHaveLength(1);
    expect(rowResults(report)['101']).toBe('demoted');
    expect(report.rows.find((row) => row.attributeId === '101')?.attributeTimestampAfter).toBe(String(sandbox.getAttribute(101)?.timestamp));
    expect(logger.text()).toContain('reading the attribute again shows to_ids false, so MISP stored it');
    expect(eventResults(report)['1']).toBe('republished');
    expect(sandbox.getEvent(1)?.published).toBe(true);
    expect(report.failures).toEqual([]);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  });

  it('says when an edit state is unknown', async () => {
    // The search and the re-check before the edits pass; the read after the failed edit does not.
    const sandbox = await start([
      { path: '/attributes/edit/101', kind: 'status', status: 500, body: 'json', failAfterApply: true },
      { path: '/attributes/restSearch', kind: 'status', status: 503, after: 2, times: Infinity },
    ]);

    const { report } = await runWithStrategy(sandbox);

    const row = report.rows.find((candidate) => candidate.attributeId === '101');
    expect(row?.result).toBe('failed');
    expect(row?.error).toMatch(/Whether MISP stored the edit is unknown, because reading attribute 101 again failed too .*: check its to_ids in MISP and republish event 1 if it changed\.$/);
    expect(sandbox.getAttribute(101)?.to_ids).toBe(false);
    expect(exitStatusOf(report)).toBe(1);
  });

  it('confirms publishes whose replies failed', async () => {
    const sandbox = await start([
      { path: '/events/publish/1', kind: 'drop', failAfterApply: true },
      { path: '/events/publish/2', kind: 'status', status: 500, body: 'json', failAfterApply: true },
    ]);
    const before = snapshot(sandbox);

    const { report, journalFile, logger } = await runWithStrategy(sandbox);

    // Event 1: the publish was retried and sent twice, which is harmless without e-mail.
    // Event 2: MISP's JSON 500 is not retried, and reading the event again shows it published.
    expect(sandbox.publishes.filter((id) => id === '1')).toHaveLength(2);
    expect(sandbox.publishes.filter((id) => id === '2')).toHaveLength(1);
    expect(logger.text()).toContain('Republished event 2 without e-mail: the publish request failed');
    expect(eventResults(report)).toEqual({ 1: 'republished', 2: 'republished', 3: 'left-unpublished' });
    expect(report.failures).toEqual([]);
    expectReportMatchesSandbox(report, sandbox, before);
    expectJournalMatchesReport(journalFile, report);
  });
});

describe('action under server faults', () => {
  it('retries a 5xx and succeeds', async () => {
    const sandbox = await start([{ path: '/attributes/edit/102', kind: 'status', status: 502, body: 'html' }]);
    const before = snapshot(sandbox);

    const run = await runAction(baseInputs(sandbox));

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^::warning::POST \/attributes\/edit\/102: HTTP 502, attempt 1 of 5; retrying in \d+\.\d s\.$/m);
    expect(run.outputs['demoted-count']).toBe('4');
    expect(run.outputs['failed-count']).toBe('0');
    expectReportMatchesSandbox(await readReportJson(run.outputs['report-json']), sandbox, before);
  });

  it('exits 1 with one failed edit', async () => {
    const sandbox = await start([{ path: '/attributes/edit/102', kind: 'status', status: 500, body: 'json' }]);
    const before = snapshot(sandbox);

    const run = await runAction(baseInputs(sandbox));

    expect(run.exitCode).toBe(1);
    expect(run.outputs['demoted-count']).toBe('3');
    expect(run.outputs['failed-count']).toBe('1');
    expect(run.outputs['republished-event-ids']?.split(',').sort()).toEqual(['1', '2']);
    expect(run.stdout).toMatch(/^::error::1 operations? failed: edit-attribute 102\. 3 attributes were demoted/m);
    const report = await readReportJson(run.outputs['report-json']);
    expect(rowResults(report)['102']).toBe('failed');
    expectReportMatchesSandbox(report, sandbox, before);
  });

  it('honours Retry-After between attempts', async () => {
    // The default policy waits at most 1 s before the second attempt, and the server requests 2 s.
    const sandbox = await start([{ path: '/attributes/edit/101', kind: 'rate-limit', retryAfter: 2 }]);

    const run = await runAction(baseInputs(sandbox));

    expect(run.exitCode).toBe(0);
    const [limited, retried] = callsTo(sandbox, 'POST', '/attributes/edit/101');
    expect(limited?.status).toBe(429);
    expect(retried!.receivedAt - limited!.receivedAt).toBeGreaterThanOrEqual(2_000 - TIMER_MARGIN_MS);
    expect(run.stdout).toContain('::warning::POST /attributes/edit/101: rate limited, attempt 1 of 5; retrying in 2.0 s.');
  });

  it.each([
    ['a redirect to the login page', { kind: 'login-page' } as const, /MISP redirected to http:\/\/127\.0\.0\.1:\d+\/users\/login \(HTTP 302\).*misp-url/],
    ['a login page', { kind: 'login-page', status: 200 } as const, /HTTP 200 and text\/html; charset=UTF-8 instead of JSON\. Check that misp-url points at MISP/],
  ])('stops on %s', async (_name, fault, message) => {
    const sandbox = await start([{ method: 'GET', path: '/users/view/me', ...fault }]);

    const run = await runAction(baseInputs(sandbox));

    expect(run.exitCode).toBe(1);
    expect(decodeCommands(run.stdout)).toMatch(new RegExp(`^::error::misp-fp-demote failed: GET /users/view/me.*${message.source}`, 'm'));
    expect(sandbox.calls.filter((call) => call.method === 'POST')).toEqual([]);
  });

  it('fails every edit after the key is revoked', async () => {
    const sandbox = await start([{ path: /^\/attributes\/edit\//, kind: 'forbidden', times: Infinity }]);
    const before = snapshot(sandbox);

    const run = await runAction(baseInputs(sandbox));

    expect(run.exitCode).toBe(1);
    expect(run.outputs['failed-count']).toBe('4');
    expect(run.outputs['demoted-count']).toBe('0');
    const report = await readReportJson(run.outputs['report-json']);
    expect(rowResults(report)).toEqual({ 101: 'failed', 102: 'failed', 201: 'failed', 301: 'failed' });
    for (const row of report.rows) expect(row.error).toContain('check misp-key: MISP did not accept it');
    expect(run.stdout).toMatch(/^::error::Demoting attribute 101 failed: POST \/attributes\/edit\/101 failed: HTTP 403: Authentication failed.*check misp-key/m);
    expect(sandbox.publishes).toEqual([]);
    expectReportMatchesSandbox(report, sandbox, before);
  });

  it('stops when the key is revoked during the search', async () => {
    // The second search request fails, whichever endpoint the strategy searches with.
    const sandbox = await start([{ method: 'POST', path: /\/restSearch$/, kind: 'forbidden', after: 1 }]);

    const run = await runAction({ ...baseInputs(sandbox), 'page-size': '2' });

    expect(run.exitCode).toBe(1);
    expect(decodeCommands(run.stdout)).toMatch(/^::error::misp-fp-demote failed: POST \/\w+\/restSearch failed: HTTP 403: Authentication failed.*check misp-key/m);
    expect(sandbox.calls.filter((call) => call.fault === 'forbidden')).toHaveLength(1);
    expect(sandbox.calls.filter((call) => call.path.startsWith('/attributes/edit') || call.path.startsWith('/events/publish'))).toEqual([]);
  });
});

describe('run killed halfway', () => {
  it('is finished by the next run', async () => {
    const sandbox = await start([{ path: '/events/publish/1', kind: 'delay', ms: 60_000 }]);
    const journalFile = path.join(await makeTempDir(), 'journal.jsonl');
    const inputs = { ...baseInputs(sandbox), 'journal-file': journalFile };

    // Killed once every edit is journaled, event 2 is published and the publish of event 1 hangs.
    let child: ChildProcess | undefined;
    const first = runAction(inputs, { onStart: (started) => (child = started) });
    await waitFor(() => {
      const records = readJournal(journalFile);
      const edits = records.filter((record) => record.kind === 'attribute-demoted').length;
      const published = records.some((record) => record.kind === 'event-published' && record.eventId === '2');
      return edits === TO_DEMOTE.length && published && callsTo(sandbox, 'POST', '/events/publish/1').length === 1;
    });
    child!.kill('SIGKILL');
    const killed = await first;

    expect(killed.exitCode).toBe(137);
    for (const id of TO_DEMOTE) expect(sandbox.getAttribute(id)?.to_ids).toBe(false);
    expect(sandbox.getEvent(1)?.published).toBe(false);
    const journal = readJournal(journalFile);
    expect(sorted(journal.flatMap((record) => (record.kind === 'attribute-demoted' ? [record.attributeId] : [])))).toEqual(TO_DEMOTE);
    expect(journal.some((record) => record.kind === 'run-finished')).toBe(false);
    await waitFor(() => callsTo(sandbox, 'POST', '/events/publish/1')[0]?.status === 499);

    const callsBefore = sandbox.calls.length;
    const second = await runAction(inputs);

    expect(second.exitCode).toBe(0);
    const secondCalls = sandbox.calls.slice(callsBefore);
    expect(secondCalls.filter((call) => call.path.startsWith('/attributes/edit/'))).toEqual([]);
    expect(secondCalls.filter((call) => call.path.startsWith('/events/publish/')).map((call) => call.path)).toEqual(['/events/publish/1']);
    expect(sandbox.publishes).toEqual(['2', '1']);
    expect(sandbox.getEvent(1)?.published).toBe(true);
    expect(sandbox.getEvent(3)?.published).toBe(false);
    const report = await readReportJson(second.outputs['report-json']);
    expect(report.recoveredEventIds).toContain('1');
    expect(report.recoveredEventIds).not.toContain('2');
    expect(eventResults(report)['1']).toBe('republished');
    expect(second.stdout).toMatch(/^::warning::An earlier run edited events .*1.* and did not publish them/m);
  }, 30_000);
});

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

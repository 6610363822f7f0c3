import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { policyDataset, POLICY_INPUTS } from './helpers/policy-dataset.ts';
import { runAction } from './helpers/run-action.ts';

const POLICY = POLICY_INPUTS;

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(): Promise<Sandbox> {
  sandbox = await startSandbox({ dataset: policyDataset() });
  return sandbox;
}

function withoutMaskCommands(text: string): string {
  return text.replace(/^::add-mask::.*$/gm, '');
}

function baseInputs(misp: Sandbox): Record<string, string> {
  return { 'misp-url': misp.url, 'misp-key': misp.key, 'artifact-name': 'misp-fp-report', ...POLICY };
}

describe('action against the sandbox', () => {
  it('demotes, republishes once and reports', async () => {
    const misp = await start();
    const run = await runAction(baseInputs(misp));

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    for (const id of [101, 103, 201]) expect(misp.getAttribute(id)?.to_ids).toBe(false);
    for (const id of [102, 202, 301, 104]) expect(misp.getAttribute(id)?.to_ids).toBe(true);

    expect(misp.publishes).toEqual(['1']);
    expect(misp.alerts).toEqual([]);
    expect(misp.getEvent(1)?.published).toBe(true);
    expect(misp.getEvent(2)?.published).toBe(false);
    expect(misp.getEvent(3)?.published).toBe(true);

    const edits = misp.calls.filter((call) => call.path.startsWith('/attributes/edit/'));
    expect(edits.map((call) => call.path).sort()).toEqual(['/attributes/edit/101', '/attributes/edit/103', '/attributes/edit/201']);
    for (const edit of edits) expect(edit.body).toEqual({ to_ids: false });
    const lastEdit = misp.calls.findLastIndex((call) => call.path.startsWith('/attributes/edit/'));
    const publish = misp.calls.findIndex((call) => call.path.startsWith('/events/publish/'));
    expect(publish).toBeGreaterThan(lastEdit);

    // sightings-first evaluates only 101, 102, 103 and 201: the others have at most minimal-fp
    // false positives after the minimal date (202, 301), are deleted (104) or to_ids false (105).
    expect(run.outputs['evaluated-count']).toBe('4');
    expect(run.outputs['demoted-count']).toBe('3');
    expect(run.outputs['failed-count']).toBe('0');
    expect(run.outputs['republished-event-ids']).toBe('1');

    const report = JSON.parse(await readFile(run.outputs['report-json']!, 'utf8'));
    expect(report.rows.map((row: { attributeId: string; result: string }) => [row.attributeId, row.result])).toEqual([
      ['101', 'demoted'],
      ['103', 'demoted'],
      ['201', 'demoted'],
    ]);
    expect(report.events).toEqual([
      expect.objectContaining({ eventId: '1', publishedBefore: true, result: 'republished' }),
      expect.objectContaining({ eventId: '2', publishedBefore: false, result: 'left-unpublished' }),
    ]);
    expect(report.counts.byReason).toEqual({
      demote: 3,
      'below-minimal-fp': 0,
      'below-threshold': 1,
      'no-sightings-in-window': 0,
    });
    expect(report.counts.sightedAttributesNotFound).toBe(1);
    expect(report.settings.strategy).toBe('sightings-first');

    const csv = await readFile(run.outputs['report-csv']!, 'utf8');
    expect(csv.trim().split('\r\n')).toHaveLength(4);
    expect(csv).toContain(',cdn.example,');

    expect(run.summary).toContain('demoted **3**');
    expect(run.summary).toContain('left unpublished (it was a draft before the run)');
    // ::add-mask:: is the command that tells the runner to mask the key; nothing else may show it.
    expect(withoutMaskCommands(run.stdout)).not.toContain(misp.key);
    expect(run.summary).not.toContain(misp.key);
  });

  it('full scan demotes the same attributes', async () => {
    const misp = await start();
    const run = await runAction({ ...baseInputs(misp), strategy: 'full-scan' });

    expect(run.exitCode).toBe(0);
    for (const id of [101, 103, 201]) expect(misp.getAttribute(id)?.to_ids).toBe(false);
    for (const id of [102, 202, 301, 104]) expect(misp.getAttribute(id)?.to_ids).toBe(true);
    expect(misp.calls.some((call) => call.path.startsWith('/sightings/'))).toBe(false);

    expect(run.outputs['evaluated-count']).toBe('6');
    expect(run.outputs['demoted-count']).toBe('3');
    const report = JSON.parse(await readFile(run.outputs['report-json']!, 'utf8'));
    expect(report.settings.strategy).toBe('full-scan');
    expect(report.counts.byReason).toEqual({
      demote: 3,
      'below-minimal-fp': 1,
      'below-threshold': 1,
      'no-sightings-in-window': 1,
    });
  });

  it('changes nothing in a dry run', async () => {
    const misp = await start();
    const run = await runAction({ ...baseInputs(misp), 'dry-run': 'true' });

    expect(run.exitCode).toBe(0);
    expect(misp.calls.filter((call) => call.method !== 'GET' && !call.path.endsWith('restSearch') && call.path !== '/events/index')).toEqual([]);
    expect(misp.publishes).toEqual([]);
    for (const id of [101, 103, 201]) expect(misp.getAttribute(id)?.to_ids).toBe(true);
    expect(run.outputs['demoted-count']).toBe('3');
    expect(run.summary).toContain('dry run: nothing changed');
  });

  it('republishes drafts with republish always', async () => {
    const misp = await start();
    const run = await runAction({ ...baseInputs(misp), republish: 'always' });

    expect(run.exitCode).toBe(0);
    expect([...misp.publishes].sort()).toEqual(['1', '2']);
    expect(misp.getEvent(2)?.published).toBe(true);
  });

  it('leaves events unpublished with republish never', async () => {
    const misp = await start();
    const run = await runAction({ ...baseInputs(misp), republish: 'never' });

    expect(run.exitCode).toBe(0);
    expect(misp.publishes).toEqual([]);
    expect(misp.getEvent(1)?.published).toBe(false);
  });

  it('sends no request on invalid input', async () => {
    const misp = await start();
    const run = await runAction({ ...baseInputs(misp), threshold: '1.5', 'page-size': '0' });

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('threshold "1.5" is not valid');
    expect(run.stdout).toContain('page-size "0" is not valid');
    expect(misp.calls).toEqual([]);
  });

  it('fails clearly on a wrong key', async () => {
    const misp = await start();
    const wrongKey = 'B'.repeat(40);
    const run = await runAction({ ...baseInputs(misp), 'misp-key': wrongKey });

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/HTTP 403.*check misp-key/);
    expect(withoutMaskCommands(run.stdout)).not.toContain(wrongKey);
    expect(misp.calls.filter((call) => call.path.startsWith('/attributes/edit'))).toEqual([]);
  });

  it('runs from the committed bundle', async () => {
    const misp = await start();
    const run = await runAction({ ...baseInputs(misp), 'dry-run': 'true' }, { entry: 'dist/index.js' });

    expect(run.exitCode).toBe(0);
    expect(run.outputs['demoted-count']).toBe('3');
  });
});

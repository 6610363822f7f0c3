/**
 * Role permissions and event ownership through the sandbox, which applies MISP 2.5.1's ACL. A
 * site admin may do everything. An org admin (perm_modify_org) may edit and publish the events
 * its organisation created (orgc_id), and a plain user (perm_modify) only the events it created.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxOptions, startSandbox } from '../sandbox/server.ts';
import type { RunReport } from '../src/report-model.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { runAction } from './helpers/run-action.ts';

const SIGHTED_AT = 1_780_358_400; // 2026-06-02T00:00:00Z
const OTHER_ORG = { id: '2', name: 'Other CERT', uuid: '5d7c2a2b-8c7e-4d3a-9f61-0c1e2d3f4a5b' };

/**
 * Event 1 (published, created by organisation 1): 101 to demote.
 * Event 2 (published, created by Other CERT): 201 to demote.
 */
function dataset() {
  const events = buildDataset([
    { id: 1, info: 'Own event', published: true, attributes: [{ id: 101, sightings: repeat(2, 1, SIGHTED_AT) }] },
    { id: 2, info: 'Shared event', published: true, attributes: [{ id: 201, sightings: repeat(2, 1, SIGHTED_AT) }] },
  ]);
  // Pulled by sync: organisation 1 owns the local copy (org_id), Other CERT created it (orgc_id).
  Object.assign(events[1]!.Event, { orgc_id: OTHER_ORG.id, Orgc: OTHER_ORG });
  return events;
}

/** Organisation 1's admin without the site admin flag, which would pass every ACL check. */
const ORG_ADMIN = { perm_site_admin: false, perm_admin: true, perm_modify: true, perm_modify_org: true, perm_publish: true };

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(role: NonNullable<SandboxOptions['user']>['role']): Promise<Sandbox> {
  sandbox = await startSandbox({ dataset: dataset(), user: { role } });
  return sandbox;
}

function baseInputs(misp: Sandbox): Record<string, string> {
  return { 'misp-url': misp.url, 'misp-key': misp.key, 'artifact-name': '' };
}

/** Decodes the %0A escapes that @actions/core writes into workflow command messages. */
function decodeCommands(stdout: string): string {
  return stdout.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

function changeCalls(misp: Sandbox) {
  return misp.calls.filter((call) => call.path.startsWith('/attributes/edit') || call.path.startsWith('/events/publish') || call.path.startsWith('/events/alert'));
}

async function readReport(file: string | undefined): Promise<RunReport> {
  return JSON.parse(await readFile(file!, 'utf8')) as RunReport;
}

describe('action with role permissions', () => {
  it('stops before the first edit without perm_publish', async () => {
    const misp = await start({ ...ORG_ADMIN, perm_publish: false });

    const run = await runAction(baseInputs(misp));

    expect(run.exitCode).toBe(1);
    const message = decodeCommands(run.stdout);
    expect(message).toMatch(/^::error::the MISP role "admin" of admin@admin\.test lacks perm_publish \(Publish\), so demoted events would stay unpublished: .*or set republish: never\.$/m);
    expect(changeCalls(misp)).toEqual([]);
    expect(misp.calls.map((call) => call.path)).toEqual(['/servers/getVersion', '/users/view/me']);
  });

  it('runs dry without perm_publish', async () => {
    const misp = await start({ ...ORG_ADMIN, perm_publish: false });

    const run = await runAction({ ...baseInputs(misp), 'dry-run': 'true' });

    expect(run.exitCode).toBe(0);
    expect(run.outputs['demoted-count']).toBe('2');
    expect(changeCalls(misp)).toEqual([]);
  });

  it('demotes without perm_publish with republish never', async () => {
    const misp = await start({ ...ORG_ADMIN, perm_publish: false });

    const run = await runAction({ ...baseInputs(misp), republish: 'never' });

    expect(run.exitCode).toBe(0);
    expect(misp.getAttribute(101)?.to_ids).toBe(false);
    expect(misp.publishes).toEqual([]);
  });

  it('lets a site admin without perm_publish publish', async () => {
    // MISP 2.5.1 passes a site admin through every ACL check, perm_publish or not.
    const misp = await start({ perm_publish: false });

    const run = await runAction(baseInputs(misp));

    expect(run.exitCode).toBe(0);
    expect([...misp.publishes].sort()).toEqual(['1', '2']);
  });

  it('stops without any modify permission', async () => {
    const misp = await start({ ...ORG_ADMIN, perm_modify: false, perm_modify_org: false });

    const run = await runAction(baseInputs(misp));

    expect(run.exitCode).toBe(1);
    expect(decodeCommands(run.stdout)).toMatch(/lacks perm_modify_org \(Modify Org\) and perm_modify \(Modify\), so it cannot edit attributes: .*or use dry-run: true\./);
    expect(changeCalls(misp)).toEqual([]);
  });
});

describe('action with event ownership', () => {
  it('leaves an event created by another organisation alone', async () => {
    const misp = await start(ORG_ADMIN);

    const run = await runAction(baseInputs(misp));

    expect(run.exitCode).toBe(0);
    const report = await readReport(run.outputs['report-json']);
    expect(report.rows.map((row) => [row.attributeId, row.result])).toEqual([
      ['101', 'demoted'],
      ['201', 'not-permitted'],
    ]);
    expect(report.rows[1]!.error).toBe('event 2 was created by Other CERT; only that organisation or a site admin can edit it');
    expect(report.counts.notPermitted).toBe(1);
    expect(misp.getAttribute(201)?.to_ids).toBe(true);
    expect(changeCalls(misp).map((call) => call.path)).toEqual(['/attributes/edit/101', '/events/publish/1']);
  });

  it('reports the 403 MISP gives an edit it does not permit', async () => {
    // A plain user may edit only the events it created itself, which the key's user never did,
    // so the check before the edit passes and MISP refuses the edit.
    const misp = await start({ ...ORG_ADMIN, perm_modify_org: false, perm_publish: false });

    const run = await runAction({ ...baseInputs(misp), republish: 'never' });

    expect(run.exitCode).toBe(0);
    const report = await readReport(run.outputs['report-json']);
    expect(report.rows.map((row) => [row.attributeId, row.result])).toEqual([
      ['101', 'not-permitted'],
      ['201', 'not-permitted'],
    ]);
    expect(report.rows[0]!.error).toBe('POST /attributes/edit/101 failed: HTTP 403: You do not have permission to do that.');
    expect(report.failures).toEqual([]);
    expect(misp.calls.filter((call) => call.path === '/attributes/edit/101').map((call) => call.status)).toEqual([403]);
    expect(misp.getAttribute(101)?.to_ids).toBe(true);
  });
});

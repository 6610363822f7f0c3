/** Behaviour of the MISP sandbox beyond single captured exchanges: state changes, dataset loading, options. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { DatasetError, loadDataset } from '../sandbox/dataset.ts';
import { SANDBOX_DEFAULT_KEY, type Sandbox, type SandboxOptions, startSandbox } from '../sandbox/server.ts';

type JsonObject = Record<string, unknown>;

interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

const NOW = 1_796_400_000;
const DAY = 86_400;

const openSandboxes: Sandbox[] = [];

async function open(options: SandboxOptions = {}): Promise<Sandbox> {
  const sandbox = await startSandbox({ now: () => NOW, ...options });
  openSandboxes.push(sandbox);
  return sandbox;
}

afterEach(async () => {
  await Promise.all(openSandboxes.splice(0).map((sandbox) => sandbox.close()));
});

/** Sends exactly the given headers; by default the three headers a MISP client sends. */
function call(sandbox: Sandbox, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpReply> {
  const sentHeaders = headers ?? { Authorization: sandbox.key, Accept: 'application/json', 'Content-Type': 'application/json' };
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${sandbox.url}${path}`, { method, headers: sentHeaders }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
    });
    request.on('error', reject);
    request.end(payload);
  });
}

async function restSearch(sandbox: Sandbox, filters: JsonObject): Promise<{ ids: string[]; count: string | undefined; attributes: JsonObject[] }> {
  const reply = await call(sandbox, 'POST', '/attributes/restSearch', { returnFormat: 'json', ...filters });
  expect(reply.status, reply.text).toBe(200);
  const attributes = (reply.json as { response: { Attribute: JsonObject[] } }).response.Attribute;
  return { ids: attributes.map((attribute) => String(attribute.id)), count: reply.headers['x-result-count'] as string | undefined, attributes };
}

async function sightingIds(sandbox: Sandbox, filters: JsonObject): Promise<string[]> {
  const reply = await call(sandbox, 'POST', '/sightings/restSearch', filters);
  expect(reply.status, reply.text).toBe(200);
  return (reply.json as { response: { Sighting: JsonObject }[] }).response.map((entry) => String(entry.Sighting.id));
}

function sighting(id: number, type: number, date: number, orgId = 1, source = ''): JsonObject {
  return { id, type, date_sighting: date, org_id: orgId, source };
}

/**
 * Builds a small dataset with numbers given as JSON numbers: a published event 1 (attributes 1-4
 * and 9, attribute 6 in object 7, deleted attribute 5), a draft event 2 (attributes 10 and 11) and
 * two organisations.
 */
function sampleDataset(): JsonObject[] {
  return [
    {
      Event: {
        id: 1,
        info: 'Published event',
        published: true,
        timestamp: 1_700_000_000,
        publish_timestamp: 1_700_000_100,
        Org: { id: 1, name: 'EXAMPLE-CERT', uuid: '11111111-1111-4111-8111-111111111111' },
        Attribute: [
          {
            id: 1,
            type: 'ip-dst',
            category: 'Network activity',
            value: '192.0.2.1',
            to_ids: true,
            timestamp: 1_700_000_000,
            Sighting: [sighting(1, 1, NOW - 5 * DAY, 1, 'analyst'), sighting(2, 0, NOW - 40 * DAY, 2, 'sensor'), sighting(3, 2, NOW - DAY, 2)],
          },
          { id: 2, type: 'domain', category: 'Network activity', value: 'a.example', to_ids: 1, timestamp: 1_700_000_000 },
          { id: 3, type: 'domain', category: 'Network activity', value: 'b.example', to_ids: '0', timestamp: 1_700_000_000 },
          { id: 4, type: 'md5', category: 'Payload delivery', value: 'd41d8cd98f00b204e9800998ecf8427e', to_ids: '1', timestamp: 1_700_000_000 },
          {
            id: 5,
            type: 'ip-dst',
            category: 'Network activity',
            value: '192.0.2.5',
            to_ids: true,
            deleted: true,
            Sighting: [sighting(4, 1, NOW - 2 * DAY)],
          },
          { id: 9, type: 'ip-src', category: 'Network activity', value: '192.0.2.9', to_ids: true, timestamp: 1_700_000_000 },
        ],
        Object: [
          {
            id: 7,
            name: 'file',
            'meta-category': 'file',
            Attribute: [
              {
                id: 6,
                type: 'sha256',
                category: 'Payload delivery',
                object_relation: 'sha256',
                value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
                to_ids: true,
                Sighting: [sighting(5, 1, NOW - 3 * DAY, 2, 'analyst')],
              },
            ],
          },
        ],
      },
    },
    {
      Event: {
        id: 2,
        info: 'Draft event',
        published: false,
        timestamp: 1_700_000_000,
        Orgc: { id: 2, name: 'EXAMPLE-SOC', uuid: '22222222-2222-4222-8222-222222222222' },
        orgc_id: 2,
        Attribute: [
          { id: 10, type: 'domain', category: 'Network activity', value: 'c.example', to_ids: true, timestamp: 1_700_000_000 },
          { id: 11, type: 'url', category: 'Network activity', value: 'https://c.example/x', to_ids: false, timestamp: 1_700_000_000 },
        ],
      },
    },
  ];
}

describe('authentication and Accept header', () => {
  it('SANDBOX_DEFAULT_KEY looks like a MISP key', () => {
    expect(SANDBOX_DEFAULT_KEY).toMatch(/^[a-zA-Z0-9]{40}$/);
  });

  it('wrong or missing key gets 403', async () => {
    const sandbox = await open();
    const wrong = await call(sandbox, 'GET', '/servers/getVersion', undefined, { Authorization: 'A'.repeat(40), Accept: 'application/json' });
    const missing = await call(sandbox, 'GET', '/servers/getVersion', undefined, { Accept: 'application/json' });
    for (const reply of [wrong, missing]) {
      expect(reply.status).toBe(403);
      expect((reply.json as JsonObject).name).toMatch(/^Authentication failed\./);
      expect((reply.json as JsonObject).url).toBe('/servers/getVersion');
    }
  });

  it('custom key is the only key accepted', async () => {
    const sandbox = await open({ key: 'B'.repeat(40) });
    expect(sandbox.key).toBe('B'.repeat(40));
    expect((await call(sandbox, 'GET', '/servers/getVersion')).status).toBe(200);
    const defaultKey = await call(sandbox, 'GET', '/servers/getVersion', undefined, { Authorization: SANDBOX_DEFAULT_KEY, Accept: 'application/json' });
    expect(defaultKey.status).toBe(403);
  });

  it('no JSON Accept gets 302 to the login page', async () => {
    const sandbox = await open();
    const browserLike: Record<string, string>[] = [{ Authorization: sandbox.key }, { Authorization: sandbox.key, Accept: 'text/html' }, { Accept: '*/*' }];
    for (const headers of browserLike) {
      const reply = await call(sandbox, 'GET', '/events/view/1', undefined, headers);
      expect(reply.status).toBe(302);
      expect(reply.headers.location).toBe(`${sandbox.url}/users/login`);
      expect(reply.headers['content-type']).toBe('text/html; charset=UTF-8');
      expect(reply.text).toBe('');
    }
  });

  it('restSearch and .json URLs answer whatever the Accept header', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const headers = { Authorization: sandbox.key, Accept: 'text/html', 'Content-Type': 'application/json' };
    expect((await call(sandbox, 'POST', '/attributes/restSearch', { to_ids: 1 }, headers)).status).toBe(200);
    expect((await call(sandbox, 'GET', '/servers/getVersion.json', undefined, headers)).status).toBe(200);
    expect((await call(sandbox, 'GET', '/servers/getVersion', undefined, { Authorization: sandbox.key, Accept: 'application/xml' })).status).toBe(200);
  });

  it('unknown route gets 404 Not Found', async () => {
    const sandbox = await open();
    const reply = await call(sandbox, 'GET', '/galaxies/index');
    expect(reply.status).toBe(404);
    expect(reply.json).toEqual({ name: 'Not Found', message: 'Not Found', url: '/galaxies/index' });
  });
});

describe('dataset loading', () => {
  it('list, restSearch reply and file give the same data', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'misp-sandbox-'));
    const file = join(directory, 'dataset.json');
    writeFileSync(file, JSON.stringify({ response: sampleDataset() }));

    const replies: JsonObject[][] = [];
    for (const dataset of [sampleDataset(), { response: sampleDataset() }, file]) {
      const sandbox = await open({ dataset });
      replies.push((await restSearch(sandbox, { includeSightings: 1, deleted: [0, 1] })).attributes);
    }
    expect(replies[0]).toHaveLength(9);
    expect(replies[1]).toEqual(replies[0]);
    expect(replies[2]).toEqual(replies[0]);
  });

  it('numbers become strings and flags booleans', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const attribute = sandbox.getAttribute(4);
    expect(attribute).toMatchObject({ id: '4', event_id: '1', object_id: '0', to_ids: true, deleted: false, distribution: '5', timestamp: '1700000000' });
    expect(sandbox.getAttribute('3')?.to_ids).toBe(false);
    const stored = sandbox.getAttribute(1)?.Sighting as JsonObject[];
    expect(stored[0]).toEqual({
      id: '1',
      attribute_id: '1',
      event_id: '1',
      org_id: '1',
      date_sighting: String(NOW - 5 * DAY),
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      source: 'analyst',
      type: '1',
      attribute_uuid: sandbox.getAttribute(1)?.uuid,
      Organisation: { id: '1', uuid: '11111111-1111-4111-8111-111111111111', name: 'EXAMPLE-CERT' },
    });
    expect(sandbox.getEvent(1)).toMatchObject({ id: '1', published: true, timestamp: '1700000000', publish_timestamp: '1700000100' });
  });

  it('keeps dataset ids and numbers the others above them', async () => {
    const dataset = sampleDataset();
    const event = (dataset[0] as { Event: { Attribute: JsonObject[] } }).Event;
    event.Attribute.push({ type: 'domain', value: 'new.example', to_ids: true, Sighting: [{ type: 1, date_sighting: NOW }] });
    dataset.push({ Event: { info: 'No id', Attribute: [{ type: 'domain', value: 'd.example' }] } });

    const sandbox = await open({ dataset });
    expect(sandbox.getAttribute(12)?.value).toBe('new.example');
    expect(sandbox.getAttribute(13)?.value).toBe('d.example');
    expect((sandbox.getAttribute(12)?.Sighting as JsonObject[])[0]?.id).toBe('6');
    expect(sandbox.getEvent(3)?.info).toBe('No id');
  });

  it('rejects malformed datasets with the place and the fix', () => {
    const duplicate = sampleDataset();
    ((duplicate[1] as { Event: { Attribute: JsonObject[] } }).Event.Attribute[0] as JsonObject).id = 1;
    expect(() => loadDataset(duplicate, NOW)).toThrow(/\[1\]\.Event\.Attribute\[0\]\.id: attribute id 1 is used twice/);

    const badFlag = sampleDataset();
    ((badFlag[0] as { Event: { Attribute: JsonObject[] } }).Event.Attribute[0] as JsonObject).to_ids = 'yes';
    expect(() => loadDataset(badFlag, NOW)).toThrow(/Attribute\[0\]\.to_ids: expected a flag/);

    expect(() => loadDataset([{ Event: { Attribute: [{ value: 'x' }] } }], NOW)).toThrow(/Attribute\[0\]\.type: missing/);
    expect(() => loadDataset({ events: [] }, NOW)).toThrow(DatasetError);
    expect(() => loadDataset('/nonexistent/dataset.json', NOW)).toThrow(/cannot read dataset file/);
  });
});

describe('attributes/restSearch', () => {
  it('pages stop on a short page, with MISP X-Result-Count', async () => {
    const attributes = Array.from({ length: 7 }, (_, index) => ({ id: index + 1, type: 'domain', value: `p${index}.example`, to_ids: true }));
    const sandbox = await open({ dataset: [{ Event: { id: 1, info: 'paging', Attribute: attributes } }] });

    const pages: string[][] = [];
    const counts: (string | undefined)[] = [];
    for (let page = 1; ; page++) {
      const { ids, count } = await restSearch(sandbox, { to_ids: 1, limit: 3, page });
      pages.push(ids);
      counts.push(count);
      if (ids.length < 3) break;
    }
    expect(pages).toEqual([['1', '2', '3'], ['4', '5', '6'], ['7']]);
    expect(counts).toEqual(['4', '4', '1']);
    expect(await restSearch(sandbox, { to_ids: 1, limit: 3, page: 4 })).toMatchObject({ ids: [], count: '1' });
    expect((await restSearch(sandbox, { to_ids: 1 })).count).toBe('7');
  });

  it('to_ids filter follows MISP 2.5.1 value handling', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const set = ['1', '2', '4', '6', '9', '10'];
    const unset = ['3', '11'];
    for (const value of [1, '1', true, 'banana']) expect((await restSearch(sandbox, { to_ids: value })).ids, `to_ids ${JSON.stringify(value)}`).toEqual(set);
    for (const value of [0, '0', 'exclude']) expect((await restSearch(sandbox, { to_ids: value })).ids, `to_ids ${JSON.stringify(value)}`).toEqual(unset);
    // MISP skips a to_ids filter that is JSON false.
    expect((await restSearch(sandbox, { to_ids: false })).ids).toEqual(['1', '2', '3', '4', '6', '9', '10', '11']);
  });

  it('deleted attributes only when asked for', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect((await restSearch(sandbox, { to_ids: 1 })).ids).not.toContain('5');
    expect((await restSearch(sandbox, { to_ids: 1, deleted: 0 })).ids).not.toContain('5');
    expect((await restSearch(sandbox, { deleted: 1 })).ids).toEqual(['5']);
    expect((await restSearch(sandbox, { to_ids: 1, deleted: [0, 1] })).ids).toEqual(['1', '2', '4', '5', '6', '9', '10']);
  });

  it('object attributes come flat with their object', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const { attributes } = await restSearch(sandbox, { uuid: [sandbox.getAttribute(6)?.uuid], includeSightings: 1 });
    expect(attributes).toHaveLength(1);
    expect(attributes[0]).toMatchObject({ id: '6', object_id: '7', object_relation: 'sha256', Object: { id: '7', distribution: '5', sharing_group_id: '0' } });
    expect(Object.keys(attributes[0] ?? {}).slice(-3)).toEqual(['Sighting', 'Event', 'Object']);
  });

  it('filters by eventid, type, value and uuid', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect((await restSearch(sandbox, { eventid: 2 })).ids).toEqual(['10', '11']);
    expect((await restSearch(sandbox, { eventid: ['1', '!1'] })).ids).toEqual([]);
    expect((await restSearch(sandbox, { type: ['domain', 'url'] })).ids).toEqual(['2', '3', '10', '11']);
    expect((await restSearch(sandbox, { type: 'no-such-type' })).ids).toEqual([]);
    expect((await restSearch(sandbox, { value: 'A.EXAMPLE' })).ids).toEqual(['2']);
    expect((await restSearch(sandbox, { value: '%.example' })).ids).toEqual(['2', '3', '10']);
    expect((await restSearch(sandbox, { uuid: [sandbox.getAttribute(4)?.uuid, '00000000-0000-4000-8000-000000000000'] })).ids).toEqual(['4']);
  });

  it('embedded sightings are not limited to 30 days', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const { attributes } = await restSearch(sandbox, { eventid: 1, type: 'ip-dst', includeSightings: 1 });
    expect((attributes[0]?.Sighting as JsonObject[]).map((entry) => entry.id)).toEqual(['1', '2', '3']);
  });

  it('unknown filters are ignored, unimplemented MISP filters get 501', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect((await restSearch(sandbox, { nosuchparam: 1, to_ids: 1 })).ids).toHaveLength(6);
    const reply = await call(sandbox, 'POST', '/attributes/restSearch', { tags: ['tlp:red'] });
    expect(reply.status).toBe(501);
    expect((reply.json as JsonObject).message).toBe('The MISP sandbox does not implement the /attributes/restSearch filter "tags".');
    const csv = await call(sandbox, 'POST', '/attributes/restSearch', { returnFormat: 'csv' });
    expect(csv.status).toBe(501);
  });

  it('gzip-compressed request body is read', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const body = gzipSync(JSON.stringify({ eventid: 2 }));
    const headers = { Authorization: sandbox.key, Accept: 'application/json', 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' };
    const reply = await call(sandbox, 'POST', '/attributes/restSearch', body, headers);
    expect((reply.json as { response: { Attribute: JsonObject[] } }).response.Attribute.map((attribute) => attribute.id)).toEqual(['10', '11']);
    expect(sandbox.calls.at(-1)?.body).toEqual({ eventid: 2 });
  });

  it('large replies stream in chunks and stay correct', async () => {
    const attributes = Array.from({ length: 20_000 }, (_, index) => ({
      id: index + 1,
      type: 'domain',
      value: `host${index}.example`,
      to_ids: index % 2 === 0,
      Sighting: [{ id: index + 1, type: 1, date_sighting: NOW - DAY }],
    }));
    const sandbox = await open({ dataset: [{ Event: { id: 1, info: 'large', Attribute: attributes } }] });

    const reply = await call(sandbox, 'POST', '/attributes/restSearch', { to_ids: 1, includeSightings: 1 });
    expect(reply.headers['transfer-encoding']).toBe('chunked');
    const listed = (reply.json as { response: { Attribute: JsonObject[] } }).response.Attribute;
    expect(listed).toHaveLength(10_000);
    expect(listed.at(-1)?.id).toBe('19999');

    const lastPage = await restSearch(sandbox, { to_ids: 1, limit: 1000, page: 10 });
    expect(lastPage.ids[0]).toBe('18001');
    expect(lastPage.ids).toHaveLength(1000);
    expect(lastPage.count).toBe('1001');
  });
});

describe('attributes/edit', () => {
  it('unpublishes the event and bumps timestamps', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const reply = await call(sandbox, 'POST', '/attributes/edit/1', { to_ids: false });
    expect(reply.status).toBe(200);
    expect((reply.json as { Attribute: JsonObject }).Attribute).toMatchObject({ id: '1', to_ids: false, timestamp: String(NOW) });
    expect(sandbox.getEvent(1)).toMatchObject({ published: false, timestamp: String(NOW), publish_timestamp: '1700000100' });
    expect(sandbox.getAttribute(1)?.to_ids).toBe(false);
    expect((await restSearch(sandbox, { to_ids: 1 })).ids).not.toContain('1');
    expect((await restSearch(sandbox, { to_ids: 0 })).ids).toContain('1');
  });

  it('accepts every to_ids form, wrapped or not, POST or PUT, id or uuid', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const uuid = String(sandbox.getAttribute(4)?.uuid);
    const cases: [string, string, unknown, boolean][] = [
      ['POST', '/attributes/edit/2', { to_ids: '0' }, false],
      ['PUT', '/attributes/edit/2', { Attribute: { to_ids: 1 } }, true],
      ['POST', `/attributes/edit/${uuid}`, { uuid, to_ids: 0 }, false],
      ['POST', '/attributes/edit/4', { Attribute: { to_ids: '1' } }, true],
      ['POST', '/attributes/edit/4', { to_ids: false }, false],
    ];
    for (const [method, path, body, expected] of cases) {
      const reply = await call(sandbox, method, path, body);
      expect(reply.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(200);
      expect((reply.json as { Attribute: JsonObject }).Attribute.to_ids, `${method} ${path} ${JSON.stringify(body)}`).toBe(expected);
    }
  });

  it('new timestamp is newer even when the clock is behind', async () => {
    const sandbox = await open({ dataset: sampleDataset(), now: () => 1_600_000_000 });
    const reply = await call(sandbox, 'POST', '/attributes/edit/1', { to_ids: false });
    expect((reply.json as { Attribute: JsonObject }).Attribute.timestamp).toBe('1700000001');
  });

  it('rejects stale timestamps, bad values, deleted and unknown attributes', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect((await call(sandbox, 'POST', '/attributes/edit/1', { to_ids: false, timestamp: 1_700_000_000 })).status).toBe(405);
    const invalid = await call(sandbox, 'POST', '/attributes/edit/1', { to_ids: 'no' });
    expect(invalid.status).toBe(403);
    expect((invalid.json as JsonObject).errors).toEqual({ to_ids: ['boolean'] });
    expect((await call(sandbox, 'POST', '/attributes/edit/5', { to_ids: false })).status).toBe(404);
    expect((await call(sandbox, 'POST', '/attributes/edit/999', { to_ids: false })).status).toBe(404);
    expect(sandbox.getAttribute(1)?.to_ids).toBe(true);
    expect(sandbox.getEvent(1)?.published).toBe(true);
  });

  it('accepts unchanged fields, answers 501 for changes it does not model', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const unchanged = await call(sandbox, 'POST', '/attributes/edit/9', { category: 'Network activity', type: 'ip-src', to_ids: 0 });
    expect(unchanged.status).toBe(200);
    const changed = await call(sandbox, 'POST', '/attributes/edit/9', { category: 'Other' });
    expect(changed.status).toBe(501);
    expect((changed.json as JsonObject).message).toMatch(/changing category/);
  });

  it('object attribute edit bumps the object timestamp', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect((await call(sandbox, 'POST', '/attributes/edit/6', { to_ids: false })).status).toBe(200);
    const view = (await call(sandbox, 'GET', '/events/view/1')).json as { Event: { Object: JsonObject[] } };
    expect(view.Event.Object[0]).toMatchObject({ id: '7', timestamp: String(NOW) });
    expect((view.Event.Object[0]?.Attribute as JsonObject[])[0]).toMatchObject({ id: '6', to_ids: false });
  });
});

describe('publish and alert', () => {
  it('are recorded separately and both publish', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const published = await call(sandbox, 'POST', '/events/publish/2');
    expect(published.json).toMatchObject({ saved: true, name: 'Event published without alerts', id: '2' });
    const alerted = await call(sandbox, 'POST', '/events/alert/1');
    expect(alerted.json).toMatchObject({ saved: true, name: 'Email sent to all participants.', id: '1' });

    expect(sandbox.publishes).toEqual(['2']);
    expect(sandbox.alerts).toEqual(['1']);
    expect(sandbox.getEvent(2)).toMatchObject({ published: true, publish_timestamp: String(NOW) });
  });

  it('by uuid, again, by GET and on unknown events', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const uuid = String(sandbox.getEvent(1)?.uuid);
    expect((await call(sandbox, 'POST', `/events/publish/${uuid}`)).json).toMatchObject({ url: '/events/publish/1', id: '1' });
    expect((await call(sandbox, 'POST', '/events/publish/1')).status).toBe(200);
    expect((await call(sandbox, 'GET', '/events/publish/1')).status).toBe(500);
    expect((await call(sandbox, 'POST', '/events/publish/99')).status).toBe(404);
    expect(sandbox.publishes).toEqual(['1', '1']);
  });

  it('role without perm_publish gets 403 and changes nothing', async () => {
    const sandbox = await open({ dataset: sampleDataset(), user: { role: { perm_publish: false, perm_site_admin: false } } });
    const reply = await call(sandbox, 'POST', '/events/publish/2');
    expect(reply.status).toBe(403);
    expect((reply.json as JsonObject).message).toBe('You do not have permission to use this functionality.');
    expect(sandbox.publishes).toEqual([]);
    expect(sandbox.getEvent(2)?.published).toBe(false);
    const me = (await call(sandbox, 'GET', '/users/view/me')).json as { Role: JsonObject };
    expect(me.Role).toMatchObject({ perm_publish: false, perm_site_admin: false, perm_modify: true });
  });

  it('user without site admin edits only its organisation events', async () => {
    const sandbox = await open({ dataset: sampleDataset(), user: { role: { perm_site_admin: false } } });
    expect((await call(sandbox, 'POST', '/attributes/edit/2', { to_ids: false })).status).toBe(200);
    const foreign = await call(sandbox, 'POST', '/attributes/edit/10', { to_ids: false });
    expect(foreign.status).toBe(403);
    expect((foreign.json as JsonObject).message).toBe('You do not have permission to do that.');
  });

  it('rejects unknown role permissions', async () => {
    await expect(startSandbox({ user: { role: { perm_everything: true } } })).rejects.toThrow(/perm_everything is not a MISP role permission/);
  });
});

describe('events/view and events/index', () => {
  it('view lists live attributes and objects with sightings', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const view = (await call(sandbox, 'GET', '/events/view/1')).json as { Event: { Attribute: JsonObject[]; Object: JsonObject[] } };
    expect(view.Event.Attribute.map((attribute) => attribute.id)).toEqual(['1', '2', '3', '4', '9']);
    expect((view.Event.Attribute[0]?.Sighting as JsonObject[]).map((entry) => entry.id)).toEqual(['1', '2', '3']);
    expect('Sighting' in (view.Event.Attribute[1] ?? {})).toBe(false);
    expect(view.Event.Object.map((object) => object.id)).toEqual(['7']);
  });

  it('index filters by eventid and published', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const byId = await call(sandbox, 'POST', '/events/index', { eventid: [2] });
    expect((byId.json as JsonObject[]).map((event) => [event.id, event.published])).toEqual([['2', false]]);
    expect(byId.headers['x-result-count']).toBe('1');
    const drafts = await call(sandbox, 'POST', '/events/index', { published: 0 });
    expect((drafts.json as JsonObject[]).map((event) => event.id)).toEqual(['2']);
    const all = await call(sandbox, 'GET', '/events/index');
    expect((all.json as JsonObject[]).map((event) => event.id)).toEqual(['1', '2']);
  });

  it('restSearch metadata reads published flags', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    const reply = await call(sandbox, 'POST', '/events/restSearch', { returnFormat: 'json', eventid: [1, 2], metadata: 1 });
    const events = (reply.json as { response: { Event: JsonObject }[] }).response.map((entry) => entry.Event);
    expect(events.map((event) => [event.id, event.published])).toEqual([['1', true], ['2', false]]);
    expect(events.every((event) => !('Attribute' in event))).toBe(true);
  });
});

describe('sightings/restSearch', () => {
  it('time window follows now and MISP filter rules', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect(await sightingIds(sandbox, {})).toEqual(['1', '3', '4', '5']);
    expect(await sightingIds(sandbox, { last: '4d' })).toEqual(['3', '4', '5']);
    // A reversed pair is swapped, and both bounds are inclusive: sighting 3 is dated exactly NOW - DAY.
    expect(await sightingIds(sandbox, { from: NOW - DAY, to: NOW - 50 * DAY })).toEqual(['1', '2', '3', '4', '5']);
    expect(await sightingIds(sandbox, { from: NOW - 50 * DAY, to: NOW - DAY - 1 })).toEqual(['1', '2', '4', '5']);
    expect(await sightingIds(sandbox, { from: 0, to: NOW - 10 * DAY })).toEqual(['2']);
    expect(await sightingIds(sandbox, { from: NOW - 50 * DAY })).toEqual(['1', '3', '4', '5']);
    // A number in `last` is an absolute epoch in MISP 2.5.1, not a number of seconds.
    expect(await sightingIds(sandbox, { last: 7 * DAY })).toEqual(['1', '2', '3', '4', '5']);
  });

  it('filters by type, context, org uuid and source', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect(await sightingIds(sandbox, { type: 1, last: '60d' })).toEqual(['1', '4', '5']);
    expect(await sightingIds(sandbox, { type: ['0', 2], last: '60d' })).toEqual(['2', '3']);
    expect(await sightingIds(sandbox, { context: 'attribute', id: [6], last: '60d' })).toEqual(['5']);
    expect(await sightingIds(sandbox, { context: 'event', uuid: [sandbox.getEvent(1)?.uuid], last: '60d' })).toEqual(['1', '2', '3', '4', '5']);
    expect(await sightingIds(sandbox, { org_id: '22222222-2222-4222-8222-222222222222', last: '60d' })).toEqual(['2', '3', '5']);
    expect(await sightingIds(sandbox, { org_id: '!22222222-2222-4222-8222-222222222222', last: '60d' })).toEqual(['1', '4']);
    // MISP 2.5.1 resolves only organisation UUIDs in org_id.
    expect(await sightingIds(sandbox, { org_id: 2, last: '60d' })).toEqual([]);
    expect(await sightingIds(sandbox, { source: 'analyst', last: '60d' })).toEqual(['1', '5']);
  });
});

describe('recording and options', () => {
  it('records every call in order with body and status', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    await call(sandbox, 'GET', '/servers/getVersion');
    await call(sandbox, 'POST', '/attributes/restSearch', { to_ids: 1, limit: 2, page: 1 });
    await call(sandbox, 'POST', '/attributes/edit/1', { to_ids: false });
    await call(sandbox, 'GET', '/servers/getVersion', undefined, { Accept: 'application/json' });
    const receivedAt = expect.any(Number);
    expect(sandbox.calls).toEqual([
      { method: 'GET', path: '/servers/getVersion', body: null, status: 200, receivedAt },
      { method: 'POST', path: '/attributes/restSearch', body: { to_ids: 1, limit: 2, page: 1 }, status: 200, receivedAt },
      { method: 'POST', path: '/attributes/edit/1', body: { to_ids: false }, status: 200, receivedAt },
      { method: 'GET', path: '/servers/getVersion', body: null, status: 403, receivedAt },
    ]);
  });

  it('getVersion permissions follow the role', async () => {
    const sandbox = await open({ user: { role: { perm_sync: false } } });
    expect((await call(sandbox, 'GET', '/servers/getVersion')).json).toMatchObject({ version: '2.5.1', perm_sync: false, perm_sighting: true });
  });

  it('listens on loopback only', async () => {
    await expect(startSandbox({ host: '0.0.0.0' })).rejects.toThrow(/loopback only/);
    await expect(startSandbox({ port: 70_000 })).rejects.toThrow(/port must be a whole number/);
    const sandbox = await open({ host: '127.0.0.1' });
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('getAttribute and getEvent return undefined for unknown ids', async () => {
    const sandbox = await open({ dataset: sampleDataset() });
    expect(sandbox.getAttribute(404)).toBeUndefined();
    expect(sandbox.getEvent('404')).toBeUndefined();
    expect(sandbox.getAttribute(5)?.deleted).toBe(true);
  });
});

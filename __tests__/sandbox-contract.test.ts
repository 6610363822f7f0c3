/**
 * Contract tests: each test replays a request captured from a real MISP 2.5.1 against the sandbox.
 * The sandbox is loaded with the data the captured server held at that moment, with its clock set
 * to the capture time. The tests check status, the headers clients read, the JSON shape and,
 * where the data is rebuilt exactly, every value.
 *
 * The captured server's data is rebuilt from its final export (fixtures/real-misp-2.5.1-events.json)
 * by undoing what happened after each capture; the change times below come from the captures.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';

type JsonObject = Record<string, unknown>;

interface Capture {
  name: string;
  captured_at_epoch: number;
  request: { method: string; url: string; headers: Record<string, string>; body: string | null };
  response: { status: number; headers: Record<string, string>; body: string };
}

interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const FIXTURES = new URL('./fixtures/', import.meta.url);
const CAPTURE_DIR = new URL('./fixtures/captures/', import.meta.url);
const CAPTURE_FILES = readdirSync(CAPTURE_DIR).filter((file) => file.endsWith('.json'));

function capture(prefix: string): Capture {
  const file = CAPTURE_FILES.find((name) => name.startsWith(`${prefix}-`));
  if (!file) throw new Error(`no capture ${prefix}-*.json in ${CAPTURE_DIR.pathname}`);
  return JSON.parse(readFileSync(new URL(file, CAPTURE_DIR), 'utf8')) as Capture;
}

function capturedJson(prefix: string): JsonObject {
  return JSON.parse(capture(prefix).response.body) as JsonObject;
}

const EXPORT = JSON.parse(readFileSync(new URL('real-misp-2.5.1-events.json', FIXTURES), 'utf8')) as {
  response: { Event: JsonObject }[];
};

// When each sighting of the export was added (sightings add captures 10-20 and B0-B4). Capture 11
// added sightings 2 and 3; sighting 7 was replaced by sighting 8 in the same second.
const SIGHTING_ADDED_AT: Record<string, number> = {
  '1': 1796412526, '2': 1796412526, '3': 1796412526, '4': 1796412527, '5': 1796412535, '6': 1796412535,
  '8': 1796412536, '9': 1796412536, '10': 1796412536, '11': 1796412537, '12': 1796412537,
  '13': 1796412730, '14': 1796412730, '15': 1796412730, '16': 1796412731, '17': 1796412731, '18': 1796412731,
  '19': 1796412731,
};

// Attributes whose to_ids was turned off, and when (captures 73, 77, 79, then PyMISP's run before C1).
const TO_IDS_CLEARED_AT: Record<string, number> = {
  '2': 1796412646, '12': 1796412653, '14': 1796412654, '8': 1796412738, '10': 1796412739, '11': 1796412739,
};

// Creation timestamp of the attributes of each event (captures 01-03).
const CREATED_AT: Record<string, number> = { '1': 1796412502, '2': 1796412506, '3': 1796412506 };

interface EventState {
  from: number;
  published: boolean;
  timestamp: number;
  publishTimestamp: number;
}

// Published flag and timestamps of events 1-3 over time: publish (71), alerts (75, 81), edits
// (73, 77, 79), PyMISP's edits and publishes (C0-C1), publish and alert of event 2 (D0, D2).
const EVENT_HISTORY: Record<string, EventState[]> = {
  '1': [
    { from: 0, published: false, timestamp: 1796412502, publishTimestamp: 0 },
    { from: 1796412643, published: true, timestamp: 1796412502, publishTimestamp: 1796412643 },
    { from: 1796412646, published: false, timestamp: 1796412646, publishTimestamp: 1796412643 },
  ],
  '2': [
    { from: 0, published: false, timestamp: 1796412506, publishTimestamp: 0 },
    { from: 1796412659, published: true, timestamp: 1796412506, publishTimestamp: 1796412659 },
    { from: 1796412739, published: true, timestamp: 1796412739, publishTimestamp: 1796412739 },
    { from: 1796412753, published: true, timestamp: 1796412739, publishTimestamp: 1796412753 },
  ],
  '3': [
    { from: 0, published: false, timestamp: 1796412506, publishTimestamp: 0 },
    { from: 1796412651, published: true, timestamp: 1796412506, publishTimestamp: 1796412651 },
    { from: 1796412653, published: false, timestamp: 1796412653, publishTimestamp: 1796412651 },
    { from: 1796412654, published: false, timestamp: 1796412654, publishTimestamp: 1796412651 },
    { from: 1796412739, published: true, timestamp: 1796412739, publishTimestamp: 1796412739 },
  ],
};

/** Events 1-3 as the captured server held them at `epoch` (before the E captures added events 4 and 5). */
function stateAt(epoch: number): { response: { Event: JsonObject }[] } {
  const data = structuredClone(EXPORT);
  for (const { Event: event } of data.response) {
    const id = String(event.id);
    const history = EVENT_HISTORY[id] ?? [];
    const state = history.filter((step) => step.from <= epoch).at(-1);
    if (!state) throw new Error(`no state for event ${id} at ${epoch}`);
    event.published = state.published;
    event.timestamp = String(state.timestamp);
    event.publish_timestamp = String(state.publishTimestamp);

    for (const attribute of event.Attribute as JsonObject[]) {
      const clearedAt = TO_IDS_CLEARED_AT[String(attribute.id)];
      if (clearedAt !== undefined && clearedAt > epoch) {
        attribute.to_ids = true;
        attribute.timestamp = String(CREATED_AT[id]);
      }
      if (Array.isArray(attribute.Sighting)) {
        attribute.Sighting = (attribute.Sighting as JsonObject[]).filter((sighting) => (SIGHTING_ADDED_AT[String(sighting.id)] ?? 0) <= epoch);
      }
    }
  }
  return data;
}

/** Rebuilds the captured server's data during the E captures: events 1-3 as exported, event 4 after E47, event 5 after E29. */
function lateState(): { response: { Event: JsonObject }[] } {
  const data = structuredClone(EXPORT);

  const event4 = (capturedJson('E46') as { Event: JsonObject }).Event;
  event4.published = true;
  event4.publish_timestamp = String(capture('E47').captured_at_epoch);

  const event5 = (capturedJson('E27') as { Event: JsonObject }).Event;
  for (const prefix of ['E28', 'E29']) {
    const sighting = (capturedJson(prefix) as { Sighting: JsonObject }).Sighting;
    const attribute = (event5.Attribute as JsonObject[]).find((candidate) => candidate.id === sighting.attribute_id);
    if (!attribute) throw new Error(`${prefix}: attribute ${String(sighting.attribute_id)} is not in event 5`);
    attribute.Sighting = [...((attribute.Sighting as JsonObject[] | undefined) ?? []), sighting];
  }

  data.response.push({ Event: event4 }, { Event: event5 });
  return data;
}

let clock = 0;
const openSandboxes: Sandbox[] = [];

async function sandboxAt(dataset: unknown, epoch: number): Promise<Sandbox> {
  clock = epoch;
  const sandbox = await startSandbox({ dataset, now: () => clock });
  openSandboxes.push(sandbox);
  return sandbox;
}

afterEach(async () => {
  await Promise.all(openSandboxes.splice(0).map((sandbox) => sandbox.close()));
});

/** Sends a request with exactly the given headers (fetch would add its own Accept). */
function send(sandbox: Sandbox, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${sandbox.url}${path}`, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** Replays a captured request, with the sandbox key in place of the key placeholder. */
function replay(sandbox: Sandbox, captured: Capture, options: { gzipBody?: boolean } = {}): Promise<HttpReply> {
  const url = new URL(captured.request.url);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(captured.request.headers)) {
    headers[name] = value === '<ADMIN_API_KEY>' ? sandbox.key : value;
  }
  let body: string | Buffer | undefined = captured.request.body ?? undefined;
  if (options.gzipBody && body !== undefined) body = gzipSync(body);
  return send(sandbox, captured.request.method, `${url.pathname}${url.search}`, headers, body);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Lists where two JSON values differ in keys or value types, for a readable failure. */
function shapeDifferences(actual: unknown, expected: unknown, path = '$'): string[] {
  const actualKind = kindOf(actual);
  const expectedKind = kindOf(expected);
  if (actualKind !== expectedKind) return [`${path}: ${actualKind} where MISP sends ${expectedKind}`];

  if (actualKind === 'array') {
    const actualList = actual as unknown[];
    const expectedList = expected as unknown[];
    if (expectedList.length === 0) return [];
    return actualList.flatMap((item, index) => shapeDifferences(item, expectedList[index] ?? expectedList[0], `${path}[${index}]`));
  }
  if (actualKind === 'object') {
    const actualObject = actual as JsonObject;
    const expectedObject = expected as JsonObject;
    const differences: string[] = [];
    for (const key of Object.keys(expectedObject)) {
      if (!(key in actualObject)) differences.push(`${path}.${key}: missing`);
      else differences.push(...shapeDifferences(actualObject[key], expectedObject[key], `${path}.${key}`));
    }
    for (const key of Object.keys(actualObject)) {
      if (!(key in expectedObject)) differences.push(`${path}.${key}: not sent by MISP`);
    }
    return differences;
  }
  return [];
}

interface CompareOptions {
  /** Compare every value too, not only keys and types. */
  values: boolean;
  /** Compare list elements regardless of order (MISP does not order some replies). */
  anyOrder?: boolean;
}

function expectSameReply(reply: HttpReply, captured: Capture, options: CompareOptions): void {
  const expected = captured.response;
  expect(reply.status, `${captured.name}: status`).toBe(expected.status);
  expect(reply.headers['content-type'], `${captured.name}: Content-Type`).toBe(expected.headers['Content-Type']);
  const expectedCount = expected.headers['X-Result-Count'];
  expect(reply.headers['x-result-count'], `${captured.name}: X-Result-Count`).toBe(expectedCount);

  if (expected.body === '') {
    expect(reply.text, `${captured.name}: body`).toBe('');
    return;
  }
  const actualJson = JSON.parse(reply.text) as unknown;
  const expectedJson = JSON.parse(expected.body) as unknown;
  expect(shapeDifferences(actualJson, expectedJson), `${captured.name}: JSON shape`).toEqual([]);
  if (!options.values) return;
  if (options.anyOrder) expect(sortedById(actualJson), `${captured.name}: body`).toEqual(sortedById(expectedJson));
  else expect(actualJson, `${captured.name}: body`).toEqual(expectedJson);
}

function sortedById(json: unknown): unknown {
  const attributes = (json as { response?: { Attribute?: JsonObject[] } }).response?.Attribute;
  if (!attributes) return json;
  return { response: { Attribute: [...attributes].sort((a, b) => Number(a.id) - Number(b.id)) } };
}

/** Replays a capture against the captured server's data at capture time and compares values. */
async function expectReplayMatches(prefix: string, options: Partial<CompareOptions> = {}): Promise<HttpReply> {
  const captured = capture(prefix);
  const sandbox = await sandboxAt(stateAt(captured.captured_at_epoch), captured.captured_at_epoch);
  const reply = await replay(sandbox, captured);
  expectSameReply(reply, captured, { values: true, ...options });
  return reply;
}

describe('server metadata', () => {
  it.each(['00', '96'])('getVersion matches capture %s', async (prefix) => {
    await expectReplayMatches(prefix);
  });

  it('users/view/me has the admin shape', async () => {
    const captured = capture('E10');
    const sandbox = await sandboxAt(lateState(), captured.captured_at_epoch);
    const reply = await replay(sandbox, captured);
    expectSameReply(reply, captured, { values: false });
    const body = JSON.parse(reply.text) as { Role: JsonObject; Organisation: JsonObject };
    expect(body.Role).toEqual((capturedJson('E10') as { Role: JsonObject }).Role);
    expect(body.Organisation.uuid).toBe('869fedac-b1c8-4e43-907b-f2a509fa8179');
  });
});

describe('attributes/restSearch', () => {
  it.each([
    ['30', 'to_ids 1 with sightings'],
    ['31', 'limit 3 page 1'],
    ['32', 'limit 3 page 2'],
    ['34', 'limit 3 page 4, short page'],
    ['35', 'limit 3 page 5, empty page'],
    ['36', 'to_ids 0 without sightings'],
    ['37', 'to_ids true and a type list'],
    ['38', 'returnFormat in the URL and a value filter'],
    ['95', 'Accept text/html on an automation action'],
    ['A4', 'unknown parameter'],
    ['A5', 'to_ids "banana"'],
    ['AA', 'unknown type'],
    ['C0', 'before the PyMISP run'],
    ['C1', 'after the PyMISP run'],
  ])('capture %s matches (%s)', async (prefix) => {
    await expectReplayMatches(prefix);
  });

  it.each([
    ['E58', 'eventid list'],
    ['E60', 'Accept-Encoding gzip'],
    ['E61', 'all events with sightings'],
  ])('capture %s matches on the later data (%s)', async (prefix) => {
    const captured = capture(prefix);
    const sandbox = await sandboxAt(lateState(), captured.captured_at_epoch);
    expectSameReply(await replay(sandbox, captured), captured, { values: true });
  });

  it('uuid list matches capture E57 in any order', async () => {
    const captured = capture('E57');
    const sandbox = await sandboxAt(lateState(), captured.captured_at_epoch);
    expectSameReply(await replay(sandbox, captured), captured, { values: true, anyOrder: true });
  });

  it('gzip request body matches capture E62', async () => {
    const captured = capture('E62');
    expect(captured.request.headers['Content-Encoding']).toBe('gzip');
    const sandbox = await sandboxAt(lateState(), captured.captured_at_epoch);
    expectSameReply(await replay(sandbox, captured, { gzipBody: true }), captured, { values: true });
  });

  it.each([
    ['A3', 'unknown returnFormat'],
    ['A6', 'malformed JSON'],
    ['A7', 'non-numeric limit and page'],
  ])('error capture %s matches (%s)', async (prefix) => {
    await expectReplayMatches(prefix);
  });
});

describe('sightings/restSearch', () => {
  it.each([
    ['40', 'no filter: last 30 days'],
    ['41', 'returnFormat json'],
    ['42', 'type 1'],
    ['43', 'type "2"'],
    ['44', 'from and to epochs'],
    ['45', 'from alone is ignored'],
    ['46', 'last 7d'],
    ['47', 'last as a number'],
    ['48', 'from and to dates'],
    ['50', 'context attribute, integer id'],
    ['51', 'context attribute, string id: 400'],
    ['52', 'context in the URL'],
    ['53', 'context event'],
    ['54', 'context without id: 400'],
    ['55', 'unknown context: 400'],
    ['56', 'id list'],
    ['57', 'id without context'],
    ['58', 'includeAttribute and includeEvent'],
    ['59', 'type 1 with includeAttribute'],
    ['60', 'context attribute by uuid'],
    ['61', 'context event, uuid string: 500'],
    ['61b', 'context event, uuid list'],
    ['62', 'includeUuid'],
    ['63', 'GET without parameters: 400'],
    ['64', 'type list, org uuid and source'],
    ['AB', 'unknown returnFormat: 404'],
  ])('capture %s matches (%s)', async (prefix) => {
    await expectReplayMatches(prefix);
  });

  it('default window returns the sightings of the last 30 days', async () => {
    const reply = await expectReplayMatches('40');
    const ids = (JSON.parse(reply.text) as { response: { Sighting: JsonObject }[] }).response.map((entry) => entry.Sighting.id);
    // Sightings 2 and 3 are 40 days old at capture time.
    expect(ids).toEqual(['1', '4', '5', '6', '8', '9', '10', '11', '12']);
  });
});

describe('edit, publish and alert', () => {
  it('replays captures 70 to 81 in order', async () => {
    const first = capture('70');
    const sandbox = await sandboxAt(stateAt(first.captured_at_epoch), first.captured_at_epoch);
    for (const prefix of ['70', '71', '72', '73', '74', '75', '76', '77', '78', '79', '81']) {
      const captured = capture(prefix);
      clock = captured.captured_at_epoch;
      expectSameReply(await replay(sandbox, captured), captured, { values: true });
    }
    expect(sandbox.publishes).toEqual(['1']);
    expect(sandbox.alerts).toEqual(['3', '2']);
  });

  it.each([
    ['D0', 'publish an already published event'],
    ['D1', 'GET publish: 500'],
    ['D2', 'alert again'],
    ['D3', 'GET edit: API description'],
    ['A0', 'unknown attribute: 404'],
    ['A1', 'stale timestamp: 405'],
    ['A2', 'invalid IP value: 403'],
    ['A8', 'publish unknown event: 404'],
    ['A9', 'view unknown event: 404'],
  ])('capture %s matches (%s)', async (prefix) => {
    await expectReplayMatches(prefix);
  });

  it('view of event 2 matches capture D5', async () => {
    const captured = capture('D5');
    const sandbox = await sandboxAt(EXPORT, captured.captured_at_epoch);
    expectSameReply(await replay(sandbox, captured), captured, { values: true });
  });
});

describe('authentication and Accept', () => {
  it.each([
    ['90', 'wrong key: 403'],
    ['91', 'no Authorization header: 403'],
    ['92', 'short key: 403'],
    ['93', 'wrong key on GET: 403'],
    ['94', 'Accept text/html: 302'],
    ['97', 'no Accept header: 302'],
    ['98', 'no key, browser Accept: 302'],
    ['99', 'wrong key, browser Accept: 302'],
  ])('capture %s matches (%s)', async (prefix) => {
    const captured = capture(prefix);
    const sandbox = await sandboxAt(stateAt(captured.captured_at_epoch), captured.captured_at_epoch);
    const reply = await replay(sandbox, captured);
    expectSameReply(reply, captured, { values: true });
    if (captured.response.status === 302) {
      expect(reply.headers.location).toBe(`${sandbox.url}/users/login`);
      expect(captured.response.headers.Location).toBe('http://127.0.0.1:8080/users/login');
    }
  });
});

describe('event reads', () => {
  it.each([
    ['E50', 'events/restSearch with metadata'],
    ['E51', 'POST events/index with an eventid list'],
    ['E52', 'GET events/index ignores an unprefixed named filter'],
    ['E53', 'POST events/index with one eventid'],
    ['E54', 'POST events/index with published 0'],
    ['E55', 'GET events/index ignores the query string'],
    ['E56', 'GET events/index with searcheventid'],
  ])('capture %s matches (%s)', async (prefix) => {
    const captured = capture(prefix);
    const sandbox = await sandboxAt(lateState(), captured.captured_at_epoch);
    expectSameReply(await replay(sandbox, captured), captured, { values: true });
  });

  it('events/restSearch returns the export it was taken with', async () => {
    const sandbox = await sandboxAt(EXPORT, 1796412754);
    const reply = await send(
      sandbox,
      'POST',
      '/events/restSearch',
      { Authorization: sandbox.key, Accept: 'application/json', 'Content-Type': 'application/json' },
      JSON.stringify({ returnFormat: 'json', eventid: [1, 2, 3], includeSightings: 1 }),
    );
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toEqual(EXPORT);
  });
});

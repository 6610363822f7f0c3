import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/logger.ts';
import { MispApiError, MispClient } from '../src/misp-client.ts';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';

const CONNECTION = { verifyTls: true, caCert: '', clientCert: '', clientKey: '', timeoutMs: 5000 };
const NO_RETRY = { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, maxTotalWaitMs: 0 };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function client(baseUrl: string, key: string): MispClient {
  const misp = new MispClient({ baseUrl, key, connection: CONNECTION, logger: silentLogger, userAgent: 'test', retry: NO_RETRY });
  cleanups.push(() => misp.close());
  return misp;
}

async function sandboxWith(attributeCount: number): Promise<Sandbox> {
  const attributes = Array.from({ length: attributeCount }, (_, index) => ({ id: index + 1, sightings: repeat(1, 1, 1_780_000_000) }));
  const sandbox = await startSandbox({ dataset: buildDataset([{ id: 1, attributes }]) });
  cleanups.push(() => sandbox.close());
  return sandbox;
}

/** A server that returns one fixed reply, for replies the sandbox never sends. */
async function fixedServer(status: number, headers: Record<string, string>, body: string): Promise<string> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(status, headers);
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('MispClient against the sandbox', () => {
  it('reads the version', async () => {
    const sandbox = await sandboxWith(1);
    expect(await client(sandbox.url, sandbox.key).getVersion()).toBe('2.5.1');
  });

  it('stops paging on a short page', async () => {
    const sandbox = await sandboxWith(5);
    const pages: number[] = [];
    for await (const page of client(sandbox.url, sandbox.key).searchIdsAttributes(2)) pages.push(page.length);

    expect(pages).toEqual([2, 2, 1]);
    expect(sandbox.calls.filter((call) => call.path === '/attributes/restSearch')).toHaveLength(3);
  });

  it('stops paging on an empty page after a full one', async () => {
    const sandbox = await sandboxWith(4);
    const pages: number[] = [];
    for await (const page of client(sandbox.url, sandbox.key).searchIdsAttributes(2)) pages.push(page.length);

    expect(pages).toEqual([2, 2]);
    expect(sandbox.calls.filter((call) => call.path === '/attributes/restSearch')).toHaveLength(3);
  });

  it('demotes an attribute and unpublishes its event', async () => {
    const sandbox = await sandboxWith(2);
    const stored = await client(sandbox.url, sandbox.key).demoteAttribute('2');

    expect(stored.to_ids).toBe(false);
    expect(sandbox.getAttribute(2)?.to_ids).toBe(false);
    expect(sandbox.getEvent(1)?.published).toBe(false);
  });

  it('publishes without alert', async () => {
    const sandbox = await sandboxWith(1);
    await client(sandbox.url, sandbox.key).publishEvent('1');

    expect(sandbox.publishes).toEqual(['1']);
    expect(sandbox.alerts).toEqual([]);
  });

  it('reads event state and attributes by uuid', async () => {
    const sandbox = await sandboxWith(3);
    const misp = client(sandbox.url, sandbox.key);
    const uuid = String(sandbox.getAttribute(3)?.uuid);

    expect((await misp.getEventIndex(['1'])).map((event) => event.published)).toEqual([true]);
    expect((await misp.getAttributesByUuid([uuid])).map((attribute) => attribute.id)).toEqual(['3']);
  });

  it('names misp-key on a rejected key', async () => {
    const sandbox = await sandboxWith(1);
    const error = await client(sandbox.url, 'C'.repeat(40)).getVersion().catch((caught) => caught);

    expect(error).toBeInstanceOf(MispApiError);
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/GET \/servers\/getVersion failed: HTTP 403: Authentication failed.*check misp-key/);
    expect(error.message).not.toContain('C'.repeat(40));
  });

  it('reports an unknown attribute', async () => {
    const sandbox = await sandboxWith(1);
    await expect(client(sandbox.url, sandbox.key).demoteAttribute('999')).rejects.toThrow(/HTTP 404: Invalid attribute/);
  });
});

describe('MispClient on replies that are not MISP JSON', () => {
  it('explains a redirect to a login page', async () => {
    const url = await fixedServer(302, { location: '/users/login', 'content-type': 'text/html' }, '');
    await expect(client(url, 'k'.repeat(40)).getVersion()).rejects.toThrow(/redirected to \/users\/login \(HTTP 302\).*misp-url/);
  });

  it('explains an HTML page', async () => {
    const url = await fixedServer(200, { 'content-type': 'text/html' }, '<html>Sign in</html>');
    await expect(client(url, 'k'.repeat(40)).getVersion()).rejects.toThrow(/HTTP 200 and text\/html instead of JSON.*misp-url/);
  });

  it('explains a refused connection', async () => {
    const url = await fixedServer(200, {}, '');
    const port = new URL(url).port;
    await cleanups.pop()!();
    await expect(client(`http://127.0.0.1:${port}`, 'k'.repeat(40)).getVersion()).rejects.toThrow(/refused: check misp-url/);
  });

  it('rejects an edit reply that still shows to_ids', async () => {
    const url = await fixedServer(200, { 'content-type': 'application/json' }, JSON.stringify({ Attribute: { id: '1', to_ids: true } }));
    await expect(client(url, 'k'.repeat(40)).demoteAttribute('1')).rejects.toThrow(/does not show to_ids false/);
  });
});

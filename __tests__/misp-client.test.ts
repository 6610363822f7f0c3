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
    const ids: string[] = [];
    for await (const attribute of client(sandbox.url, sandbox.key).searchIdsAttributes(2)) ids.push(String(attribute.id));

    expect(ids).toEqual(['1', '2', '3', '4', '5']);
    expect(sandbox.calls.filter((call) => call.path === '/attributes/restSearch')).toHaveLength(3);
  });

  it('stops paging on an empty page after a full one', async () => {
    const sandbox = await sandboxWith(4);
    const ids: string[] = [];
    for await (const attribute of client(sandbox.url, sandbox.key).searchIdsAttributes(2)) ids.push(String(attribute.id));

    expect(ids).toEqual(['1', '2', '3', '4']);
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

  it('explains https:// to a plain HTTP server', async () => {
    const sandbox = await sandboxWith(1);
    const url = sandbox.url.replace('http://', 'https://');
    await expect(client(url, sandbox.key).getVersion()).rejects.toThrow(/does not speak TLS on that port.*write misp-url with http:\/\//);
  });

  it('rejects an edit reply that still shows to_ids', async () => {
    const url = await fixedServer(200, { 'content-type': 'application/json' }, JSON.stringify({ Attribute: { id: '1', to_ids: true } }));
    await expect(client(url, 'k'.repeat(40)).demoteAttribute('1')).rejects.toThrow(/does not show to_ids false/);
  });
});

/** One restSearch reply of a scripted server: a status, headers and the body, written in pieces. */
interface ScriptedReply {
  status?: number;
  contentType?: string;
  pieces: string[];
  /** Close the connection after the pieces instead of ending the reply. */
  cut?: boolean;
}

/** A server that sends the nth scripted reply to the nth request, writing each piece in a chunk of its own. */
async function scriptedServer(replies: ScriptedReply[]): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server: Server = createServer((request, response) => {
    const reply = replies[Math.min(requests++, replies.length - 1)]!;
    request.resume();
    request.on('end', async () => {
      response.writeHead(reply.status ?? 200, { 'content-type': reply.contentType ?? 'application/json' });
      for (const piece of reply.pieces) {
        response.write(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (reply.cut) response.socket?.destroy();
      else response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests };
}

function page(ids: number[]): string {
  return JSON.stringify({ response: { Attribute: ids.map((id) => ({ id: String(id), event_id: '1', to_ids: true, Sighting: [] })) } });
}

/** Splits text into pieces of `size` characters. */
function pieces(text: string, size: number): string[] {
  return Array.from({ length: Math.ceil(text.length / size) }, (_, index) => text.slice(index * size, (index + 1) * size));
}

function retryingClient(baseUrl: string, warnings: string[] = []): MispClient {
  const logger = { ...silentLogger, warning: (message: string) => warnings.push(message) };
  const misp = new MispClient({
    baseUrl,
    key: 'k'.repeat(40),
    connection: CONNECTION,
    logger,
    userAgent: 'test',
    retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0, maxTotalWaitMs: 1000 },
    sleep: async () => {},
  });
  cleanups.push(() => misp.close());
  return misp;
}

async function collectIds(attributes: AsyncIterable<{ id: unknown }>): Promise<string[]> {
  const ids: string[] = [];
  for await (const attribute of attributes) ids.push(String(attribute.id));
  return ids;
}

describe('MispClient streaming restSearch pages', () => {
  it('yields attributes from a page sent in small chunks', async () => {
    const server = await scriptedServer([{ pieces: pieces(page([1, 2, 3]), 7) }, { pieces: [page([4])] }]);

    expect(await collectIds(retryingClient(server.url).searchIdsAttributes(3))).toEqual(['1', '2', '3', '4']);
    expect(server.requests()).toBe(2);
  });

  it('reads a page again after a cut connection', async () => {
    const text = page([1, 2, 3]);
    const warnings: string[] = [];
    const server = await scriptedServer([{ pieces: [text.slice(0, text.indexOf('"3"') + 10)], cut: true }, { pieces: pieces(text, 50) }]);

    const ids = await collectIds(retryingClient(server.url, warnings).searchIdsAttributes(5));
    // The first two attributes arrived before the cut and come again with the retried page.
    expect(ids).toEqual(['1', '2', '1', '2', '3']);
    expect(server.requests()).toBe(2);
    expect(warnings).toEqual([expect.stringMatching(/^POST \/attributes\/restSearch: network error, attempt 1 of 3; retrying/)]);
  });

  it('gives up on a page cut on every attempt', async () => {
    const text = page([1, 2]);
    const server = await scriptedServer([{ pieces: [text.slice(0, 40)], cut: true }]);

    await expect(collectIds(retryingClient(server.url).searchIdsAttributes(5))).rejects.toThrow(
      /POST \/attributes\/restSearch failed: .* Gave up after 3 attempts\./,
    );
    expect(server.requests()).toBe(3);
  });

  it('retries a 503 before the page', async () => {
    const server = await scriptedServer([{ status: 503, contentType: 'text/html', pieces: ['<html>busy</html>'] }, { pieces: [page([1])] }]);

    expect(await collectIds(retryingClient(server.url).searchIdsAttributes(5))).toEqual(['1']);
    expect(server.requests()).toBe(2);
  });

  it('rejects a page that turns out not to be JSON', async () => {
    const text = page([1, 2]);
    const server = await scriptedServer([{ pieces: [text.slice(0, -3), ',]}}'] }]);

    await expect(collectIds(retryingClient(server.url).searchIdsAttributes(5))).rejects.toThrow(
      /POST \/attributes\/restSearch: the server responded with HTTP 200 and application\/json instead of JSON\. Check that misp-url/,
    );
    expect(server.requests()).toBe(1);
  });

  it('rejects a JSON reply without the attribute list', async () => {
    const server = await scriptedServer([{ pieces: ['{"response": []}'] }]);

    await expect(collectIds(retryingClient(server.url).searchIdsAttributes(5))).rejects.toThrow(/the reply has no response\.Attribute list/);
  });

  it('reads a JSON page sent as text/plain', async () => {
    const server = await scriptedServer([{ contentType: 'text/plain', pieces: [page([1, 2])] }]);

    expect(await collectIds(retryingClient(server.url).searchIdsAttributes(5))).toEqual(['1', '2']);
  });

  it('closes a page the caller stops reading', async () => {
    const server = await scriptedServer([{ pieces: pieces(page(Array.from({ length: 200 }, (_, index) => index + 1)), 100) }]);
    const misp = retryingClient(server.url);

    for await (const attribute of misp.searchIdsAttributes(500)) {
      expect(attribute.id).toBe('1');
      break;
    }
    // The next request must not wait behind the abandoned reply.
    expect(await collectIds(misp.searchIdsAttributes(500))).toHaveLength(200);
  });
});

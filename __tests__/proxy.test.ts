/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY through the real action, with a small forwarding proxy on
 * 127.0.0.1 that counts what passes through it. The proxy forwards to loopback addresses only.
 */
import { createServer, type IncomingMessage, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { runAction } from './helpers/run-action.ts';
import { createTestCertificates, type TestCertificates } from './helpers/test-certificates.ts';

const SIGHTED_AT = 1_780_358_400; // 2026-06-02T00:00:00Z
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

function dataset() {
  return buildDataset([{ id: 1, published: true, attributes: [{ id: 101, sightings: repeat(2, 1, SIGHTED_AT) }] }]);
}

interface TestProxy {
  url: string;
  /** Targets of forwarded absolute-URI requests, such as "POST http://127.0.0.1:4000/events/index". */
  forwarded: string[];
  /** host:port of every CONNECT tunnel. */
  tunnels: string[];
  close(): Promise<void>;
}

/** Starts a forward proxy for plain requests (absolute URI) and CONNECT tunnels, to loopback only. */
async function startProxy(): Promise<TestProxy> {
  const forwarded: string[] = [];
  const tunnels: string[] = [];

  const server: Server = createServer((request: IncomingMessage, response) => {
    const target = new URL(request.url ?? '');
    if (!LOOPBACK_HOSTS.has(target.hostname)) {
      response.writeHead(403).end('the test proxy forwards to loopback only');
      return;
    }
    forwarded.push(`${request.method} ${target.href}`);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: request.method, path: `${target.pathname}${target.search}`, headers: request.headers },
      (reply) => {
        response.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });

  server.on('connect', (request: IncomingMessage, client, head) => {
    const [host, port] = (request.url ?? '').split(/:(?=\d+$)/);
    if (!LOOPBACK_HOSTS.has(host ?? '')) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    tunnels.push(request.url ?? '');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    forwarded,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let certificates: TestCertificates;
beforeAll(() => {
  certificates = createTestCertificates();
});
afterAll(() => certificates.remove());

let proxy: TestProxy;
let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  await proxy?.close();
});

function baseInputs(misp: Sandbox): Record<string, string> {
  return { 'misp-url': misp.url, 'misp-key': misp.key, 'artifact-name': '' };
}

describe('action behind a proxy', () => {
  it.each(['HTTP_PROXY', 'http_proxy'])('sends every request through %s', async (variable) => {
    proxy = await startProxy();
    sandbox = await startSandbox({ dataset: dataset() });

    const run = await runAction(baseInputs(sandbox), { env: { [variable]: proxy.url } });

    expect(run.exitCode).toBe(0);
    expect(sandbox.getAttribute(101)?.to_ids).toBe(false);
    expect(proxy.forwarded).toHaveLength(sandbox.calls.length);
    expect(proxy.forwarded).toContain(`POST ${sandbox.url}/attributes/edit/101`);
    expect(proxy.forwarded).toContain(`POST ${sandbox.url}/events/publish/1`);
  });

  it('tunnels HTTPS through HTTPS_PROXY', async () => {
    proxy = await startProxy();
    sandbox = await startSandbox({ dataset: dataset(), tls: { key: certificates.serverKey, cert: certificates.serverCert } });

    const run = await runAction({ ...baseInputs(sandbox), 'misp-ca-cert': certificates.caPem }, { env: { HTTPS_PROXY: proxy.url } });

    expect(run.exitCode).toBe(0);
    expect(sandbox.getAttribute(101)?.to_ids).toBe(false);
    expect(proxy.tunnels.length).toBeGreaterThan(0);
    expect(new Set(proxy.tunnels)).toEqual(new Set([new URL(sandbox.url).host]));
    expect(proxy.forwarded).toEqual([]);
  });

  it.each([
    ['the address', '127.0.0.1'],
    ['the address and port', (misp: Sandbox) => new URL(misp.url).host],
    ['a list', (misp: Sandbox) => `example.org, ${new URL(misp.url).hostname}`],
  ])('bypasses the proxy when NO_PROXY names %s', async (_form, noProxy) => {
    proxy = await startProxy();
    sandbox = await startSandbox({ dataset: dataset() });
    const value = typeof noProxy === 'string' ? noProxy : noProxy(sandbox);

    const run = await runAction(baseInputs(sandbox), { env: { HTTP_PROXY: proxy.url, NO_PROXY: value } });

    expect(run.exitCode).toBe(0);
    expect(sandbox.getAttribute(101)?.to_ids).toBe(false);
    expect(proxy.forwarded).toEqual([]);
    expect(proxy.tunnels).toEqual([]);
  });

  it('ignores HTTPS_PROXY for an http URL', async () => {
    proxy = await startProxy();
    sandbox = await startSandbox({ dataset: dataset() });

    const run = await runAction(baseInputs(sandbox), { env: { HTTPS_PROXY: proxy.url } });

    expect(run.exitCode).toBe(0);
    expect(proxy.forwarded).toEqual([]);
    expect(proxy.tunnels).toEqual([]);
  });
});

/**
 * The action against the sandbox over HTTPS, with a throwaway CA: custom CA certificates, a
 * disabled check, mutual TLS and a certificate for another host name.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, type SandboxTlsOptions, startSandbox } from '../sandbox/server.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { runAction } from './helpers/run-action.ts';
import { type ClientCertificate, createClientCertificate, createTestCertificates, type TestCertificates } from './helpers/test-certificates.ts';

const SIGHTED_AT = 1_780_358_400; // 2026-06-02T00:00:00Z

/** Event 1 (published) with attribute 101 to demote and 102 to keep. */
function dataset() {
  return buildDataset([
    {
      id: 1,
      published: true,
      attributes: [
        { id: 101, sightings: repeat(2, 1, SIGHTED_AT) },
        { id: 102, sightings: repeat(2, 0, SIGHTED_AT) },
      ],
    },
  ]);
}

let certificates: TestCertificates;
let client: ClientCertificate;
/** A second CA, and a client certificate it signed that the sandbox does not trust. */
let otherCertificates: TestCertificates;
let otherClient: ClientCertificate;
/** A server certificate from the first CA that lists only misp.example.test. */
let wrongHost: TestCertificates;

beforeAll(() => {
  certificates = createTestCertificates();
  client = createClientCertificate(certificates);
  otherCertificates = createTestCertificates();
  otherClient = createClientCertificate(otherCertificates);
  wrongHost = createTestCertificates('DNS:misp.example.test');
});
afterAll(() => {
  certificates.remove();
  otherCertificates.remove();
  wrongHost.remove();
});

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(tls: Partial<SandboxTlsOptions> = {}): Promise<Sandbox> {
  sandbox = await startSandbox({ dataset: dataset(), tls: { key: certificates.serverKey, cert: certificates.serverCert, ...tls } });
  return sandbox;
}

function baseInputs(misp: Sandbox): Record<string, string> {
  return { 'misp-url': misp.url, 'misp-key': misp.key, 'artifact-name': '' };
}

/** Decodes the %0A escapes that @actions/core writes into workflow command messages. */
function decodeCommands(stdout: string): string {
  return stdout.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}

function errorLine(stdout: string): string {
  return decodeCommands(stdout)
    .split('\n')
    .filter((line) => line.startsWith('::error::'))
    .join('\n');
}

describe('action over HTTPS', () => {
  it.each([
    ['PEM text', () => certificates.caPem],
    ['a file path', () => certificates.caPemPath],
  ])('trusts misp-ca-cert given as %s', async (_form, caCert) => {
    const misp = await start();
    expect(misp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const run = await runAction({ ...baseInputs(misp), 'misp-ca-cert': caCert() });

    expect(run.exitCode).toBe(0);
    expect(run.outputs['demoted-count']).toBe('1');
    expect(misp.getAttribute(101)?.to_ids).toBe(false);
    expect(misp.publishes).toEqual(['1']);
  });

  it('rejects an unknown CA and names the fix', async () => {
    const misp = await start();

    const run = await runAction(baseInputs(misp));

    expect(run.exitCode).toBe(1);
    const error = errorLine(run.stdout);
    expect(error).toMatch(/the TLS certificate of https:\/\/127\.0\.0\.1:\d+ could not be verified \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
    expect(error).toContain('set misp-ca-cert to the CA that signed it');
    expect(error).toContain('for a test server only, misp-verify-tls: false');
    expect(misp.calls).toEqual([]);
  });

  it('warns in the log and the summary without verification', async () => {
    const misp = await start();

    const run = await runAction({ ...baseInputs(misp), 'misp-verify-tls': 'false' });

    expect(run.exitCode).toBe(0);
    expect(run.outputs['demoted-count']).toBe('1');
    expect(run.stdout).toMatch(/^::warning::misp-verify-tls is false: the MISP server certificate is not checked/m);
    expect(run.summary).toContain('misp-verify-tls is false: the MISP server certificate is not checked');
  });

  it('names the host name a certificate does not list', async () => {
    sandbox = await startSandbox({ dataset: dataset(), tls: { key: wrongHost.serverKey, cert: wrongHost.serverCert } });

    const run = await runAction({ ...baseInputs(sandbox), 'misp-ca-cert': wrongHost.caPem });

    expect(run.exitCode).toBe(1);
    const error = errorLine(run.stdout);
    expect(error).toMatch(/the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not valid for the host name 127\.0\.0\.1: it lists DNS:misp\.example\.test\./);
    expect(error).toContain('Set misp-url to a host name the certificate lists');
    expect(sandbox.calls).toEqual([]);
  });
});

describe('action with mutual TLS', () => {
  it.each([
    ['PEM text', () => ({ 'misp-client-cert': client.cert, 'misp-client-key': client.key })],
    ['file paths', () => ({ 'misp-client-cert': client.certPath, 'misp-client-key': client.keyPath })],
  ])('sends the client certificate given as %s', async (_form, clientInputs) => {
    const misp = await start({ ca: certificates.caPem, requestClientCert: true });

    const run = await runAction({ ...baseInputs(misp), 'misp-ca-cert': certificates.caPem, ...clientInputs() });

    expect(run.exitCode).toBe(0);
    expect(run.outputs['demoted-count']).toBe('1');
    expect(misp.getAttribute(101)?.to_ids).toBe(false);
  });

  it('names the client inputs without a client certificate', async () => {
    const misp = await start({ ca: certificates.caPem, requestClientCert: true });

    const run = await runAction({ ...baseInputs(misp), 'misp-ca-cert': certificates.caPem });

    expect(run.exitCode).toBe(1);
    expect(errorLine(run.stdout)).toMatch(
      /^::error::misp-fp-demote failed: GET \/servers\/getVersion failed: the TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed \(tlsv13 alert certificate required\): if the server requires a client certificate, set misp-client-cert and misp-client-key\.$/,
    );
    expect(misp.calls).toEqual([]);
  });

  it('names the client inputs for an untrusted certificate', async () => {
    const misp = await start({ ca: certificates.caPem, requestClientCert: true });

    // Node's TLS 1.3 server closes the connection without an alert, which the client retries
    // like any closed connection (about 7 s with the default policy) before it gives up.
    const run = await runAction({ ...baseInputs(misp), 'misp-ca-cert': certificates.caPem, 'misp-client-cert': otherClient.cert, 'misp-client-key': otherClient.key });

    expect(run.exitCode).toBe(1);
    expect(errorLine(run.stdout)).toMatch(
      /^::error::misp-fp-demote failed: GET \/servers\/getVersion failed: other side closed \(UND_ERR_SOCKET\): if the server rejected the client certificate, check that misp-client-cert and misp-client-key are a pair signed by a CA the server trusts\. Gave up after 5 attempts\.$/,
    );
    expect(misp.calls).toEqual([]);
  }, 30_000);

  it('reports the client key nowhere', async () => {
    const misp = await start({ ca: certificates.caPem, requestClientCert: true });

    const run = await runAction({ ...baseInputs(misp), 'misp-ca-cert': certificates.caPem, 'misp-client-cert': client.cert, 'misp-client-key': client.key });

    expect(run.exitCode).toBe(0);
    const keyLines = client.key.split('\n').filter((line) => line.length >= 8 && !line.startsWith('-----'));
    const report = await readFile(run.outputs['report-json']!, 'utf8');
    for (const line of keyLines) {
      expect(report).not.toContain(line);
      expect(run.summary).not.toContain(line);
      expect(run.stdout.split('\n').filter((output) => output.includes(line) && !output.startsWith('::add-mask::'))).toEqual([]);
    }
  });
});

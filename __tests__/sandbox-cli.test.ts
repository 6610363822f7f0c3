/** The sandbox command line: flag parsing, and a real start and stop of `node sandbox/cli.ts`. */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCliArgs, UsageError } from '../sandbox/cli.ts';
import { SANDBOX_DEFAULT_KEY } from '../sandbox/server.ts';
import { createTestCertificates } from './helpers/test-certificates.ts';

const CLI = fileURLToPath(new URL('../sandbox/cli.ts', import.meta.url));
const DEMO = fileURLToPath(new URL('../sandbox/datasets/demo.json', import.meta.url));

describe('parseCliArgs', () => {
  it('defaults to the demo dataset, a free port and the fixed key', () => {
    expect(parseCliArgs([])).toEqual({ dataset: DEMO, port: 0, key: SANDBOX_DEFAULT_KEY });
  });

  it('reads every flag', () => {
    const key = 'k'.repeat(40);
    expect(parseCliArgs(['--dataset', '/tmp/x.json', '--port', '8443', '--key', key])).toEqual({ dataset: '/tmp/x.json', port: 8443, key });
    expect(parseCliArgs(['--port=0'])).toMatchObject({ port: 0 });
  });

  it('returns undefined for --help', () => {
    expect(parseCliArgs(['--help'])).toBeUndefined();
  });

  it.each([
    [['--port', 'abc'], 'Invalid --port value "abc": use a whole number from 0 to 65535 (0 picks a free port).'],
    [['--port', '70000'], 'Invalid --port value "70000": use a whole number from 0 to 65535 (0 picks a free port).'],
    [['--key', 'short'], `Invalid --key value "short": a MISP API key is exactly 40 letters and digits, such as ${SANDBOX_DEFAULT_KEY}.`],
    [['--dataset', ''], 'Invalid --dataset value "": give the path of a JSON file, or leave the flag out for the demo dataset.'],
  ])('rejects %j', (args, message) => {
    expect(() => parseCliArgs(args)).toThrow(new UsageError(message));
  });

  it('reads the TLS flags', () => {
    expect(parseCliArgs(['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-client-ca', 'ca.pem'])).toMatchObject({
      tls: { certFile: 'c.pem', keyFile: 'k.pem', clientCaFile: 'ca.pem' },
    });
  });

  it('rejects incomplete TLS flags', () => {
    expect(() => parseCliArgs(['--tls-cert', 'c.pem'])).toThrow(/--tls-cert and --tls-key go together/);
    expect(() => parseCliArgs(['--tls-client-ca', 'ca.pem'])).toThrow(/--tls-client-ca needs --tls-cert and --tls-key/);
  });

  it('rejects unknown flags and stray arguments', () => {
    expect(() => parseCliArgs(['--verbose'])).toThrow(/Unknown option '--verbose'.*--help/);
    expect(() => parseCliArgs(['demo.json'])).toThrow(UsageError);
    expect(() => parseCliArgs(['--port'])).toThrow(/--port/);
  });
});

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): { child: ChildProcess; output: () => string; finished: Promise<Finished> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const finished = new Promise<Finished>((resolve) => {
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, output: () => stdout, finished };
}

async function waitFor(output: () => string, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = pattern.exec(output());
    if (match) return match;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${pattern} in output: ${output()}`);
}

describe('node sandbox/cli.ts', () => {
  it('serves the demo dataset until SIGTERM', async () => {
    const { child, output, finished } = runCli(['--port', '0']);
    const [, url] = await waitFor(output, /MISP sandbox listening on (http:\/\/127\.0\.0\.1:\d+)\n/);
    const [, key] = await waitFor(output, /API key: ([a-zA-Z0-9]{40})\n/);
    expect(key).toBe(SANDBOX_DEFAULT_KEY);

    const response = await fetch(`${url}/events/index`, {
      method: 'POST',
      headers: { Authorization: String(key), Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ eventid: [4] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject([{ id: '4', info: 'Demo: draft, not yet published', published: false }]);

    child.kill('SIGTERM');
    const result = await finished;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/MISP sandbox stopping on SIGTERM after 1 request\.\nMISP sandbox stopped\.\n$/);
  });

  it('serves HTTPS with the TLS flags', async () => {
    const certificates = createTestCertificates();
    const certFile = path.join(certificates.dir, 'server.pem');
    const keyFile = path.join(certificates.dir, 'server-key.pem');
    writeFileSync(certFile, certificates.serverCert);
    writeFileSync(keyFile, certificates.serverKey);

    const { child, output, finished } = runCli(['--port', '0', '--tls-cert', certFile, '--tls-key', keyFile]);
    const [, url] = await waitFor(output, /MISP sandbox listening on (https:\/\/127\.0\.0\.1:\d+)\n/);
    const dispatcher = new Agent({ connect: { ca: certificates.caPem } });
    const response = await undiciFetch(`${url}/servers/getVersion`, {
      headers: { Authorization: SANDBOX_DEFAULT_KEY, Accept: 'application/json' },
      dispatcher,
    });
    expect(response.status).toBe(200);
    await dispatcher.close();

    child.kill('SIGTERM');
    expect((await finished).code).toBe(0);
  });

  it('exits with code 2 on an unreadable certificate', async () => {
    const result = await runCli(['--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem']).finished;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid --tls-cert value "/nonexistent/c.pem": the file could not be read (ENOENT)');
  });

  it('exits with code 2 on a bad flag', async () => {
    const result = await runCli(['--port', 'eighty']).finished;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid --port value "eighty"');
  });

  it('exits with code 1 when the dataset cannot be read', async () => {
    const result = await runCli(['--dataset', '/nonexistent/dataset.json']).finished;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('MISP sandbox failed to start: cannot read dataset file /nonexistent/dataset.json');
  });
});

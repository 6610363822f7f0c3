/**
 * The MISP key, the SMTP password, the TLS client key and the GitHub token must not show up in
 * any output of a run: log, job summary, outputs, report files, journal, e-mail or issue. That
 * holds also when the HTTP, TLS or SMTP libraries fail and their error messages are logged. For
 * the action, the runner's ::add-mask:: commands are the one allowed place. The command line
 * prints them nowhere.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../sandbox/server.ts';
import { silentLogger } from '../src/logger.ts';
import { MispClient } from '../src/misp-client.ts';
import { type GitHubStub, startGitHubStub } from './helpers/github-stub.ts';
import { buildDataset, repeat } from './helpers/misp-dataset.ts';
import { ROOT, runAction } from './helpers/run-action.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';
import { type ClientCertificate, createClientCertificate, createTestCertificates, type TestCertificates } from './helpers/test-certificates.ts';

const SIGHTED_AT = 1_780_358_400; // 2026-06-02T00:00:00Z
const MISP_KEY = 'SecretsTestMispKey7d3f9a1c0b2e4f6a8c9d0e';
const SMTP_USER = 'mailer';
const SMTP_PASSWORD = 'Smtp-Pass-4b8e1d9f2a7c';
const GITHUB_TOKEN = 'ghs_SecretsTestToken9f8e7d6c5b4a3210zyxw';
const REPOSITORY = 'octo-org/misp-reports';

function dataset() {
  return buildDataset([{ id: 1, info: 'Phishing wave', published: true, attributes: [{ id: 101, sightings: repeat(2, 1, SIGHTED_AT) }] }]);
}

let certificates: TestCertificates;
let client: ClientCertificate;
let github: GitHubStub;
beforeAll(async () => {
  certificates = createTestCertificates();
  client = createClientCertificate(certificates);
  github = await startGitHubStub();
});
afterAll(async () => {
  certificates.remove();
  await github.close();
});

let sandbox: Sandbox | undefined;
let smtp: SmtpSink | undefined;
let echoServer: Server | undefined;
const tempDirs: string[] = [];
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
  await smtp?.close();
  smtp = undefined;
  echoServer?.closeAllConnections();
  await new Promise((resolve) => (echoServer ? echoServer.close(resolve) : resolve(undefined)));
  echoServer = undefined;
  github.reset();
});
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Returns the base64 lines of the PEM client key, which the runner masks one by one. */
function clientKeyLines(): string[] {
  return client.key.split('\n').filter((line) => line.length >= 8 && !line.startsWith('-----'));
}

/** Returns each secret, the client key line by line, and the SMTP password as AUTH PLAIN and AUTH LOGIN encode it. */
function secretTexts(): string[] {
  return [
    MISP_KEY,
    SMTP_PASSWORD,
    GITHUB_TOKEN,
    ...clientKeyLines(),
    Buffer.from(`\u0000${SMTP_USER}\u0000${SMTP_PASSWORD}`).toString('base64'),
    Buffer.from(SMTP_PASSWORD).toString('base64'),
  ];
}

/** Returns the places where a secret was found, so that a failure shows where it leaked. */
function leaks(places: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [place, text] of Object.entries(places)) {
    for (const secret of secretTexts()) if (text.includes(secret)) found.push(`${place}: ${secret.slice(0, 12)}…`);
  }
  return found;
}

async function startMisp(): Promise<Sandbox> {
  sandbox = await startSandbox({
    dataset: dataset(),
    key: MISP_KEY,
    tls: { key: certificates.serverKey, cert: certificates.serverCert, ca: certificates.caPem, requestClientCert: true },
  });
  return sandbox;
}

async function startSmtp(password = SMTP_PASSWORD): Promise<SmtpSink> {
  smtp = await startSmtpSink({ secure: true, key: certificates.serverKey, cert: certificates.serverCert, credentials: { user: SMTP_USER, password } });
  return smtp;
}

/** Returns every input that takes a secret, with mail and issue on. */
function allInputs(mispUrl: string, smtpPort: number): Record<string, string> {
  return {
    'misp-url': mispUrl,
    'misp-key': MISP_KEY,
    'misp-ca-cert': certificates.caPem,
    'misp-client-cert': client.cert,
    'misp-client-key': client.key,
    'artifact-name': '',
    mail: 'true',
    'mail-when': 'always',
    'smtp-host': '127.0.0.1',
    'smtp-port': String(smtpPort),
    'smtp-security': 'tls',
    'smtp-ca-cert': certificates.caPem,
    'smtp-user': SMTP_USER,
    'smtp-password': SMTP_PASSWORD,
    'mail-from': 'misp-fp-demote@example.org',
    'mail-to': 'soc@example.org',
    issue: 'true',
    'github-token': GITHUB_TOKEN,
    'issue-repo': REPOSITORY,
  };
}

function actionEnv(): NodeJS.ProcessEnv {
  return { GITHUB_API_URL: github.url, GITHUB_REPOSITORY: REPOSITORY, GITHUB_RUN_ID: '4242' };
}

/** Report files, the journal and anything else the run wrote under `dir`. */
function filesUnder(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = path.join(entry.parentPath, entry.name);
      files[file] = readFileSync(file, 'utf8');
    }
  }
  return files;
}

const REPORT_FILES = ['misp-fp-journal.jsonl', 'misp-fp-report.csv', 'misp-fp-report.json'];

function reportFileNames(workDir: string): string[] {
  return Object.keys(filesUnder(path.join(workDir, 'misp-fp-report')))
    .map((file) => path.basename(file))
    .sort();
}

function mailTexts(sink: SmtpSink | undefined): Record<string, string> {
  const places: Record<string, string> = {};
  sink?.messages.forEach((message, index) => {
    const parsed = message.parsed;
    places[`mail ${index}`] = [parsed.subject ?? '', parsed.text ?? '', String(parsed.html || ''), JSON.stringify([...parsed.headers])].join('\n');
  });
  return places;
}

function issueTexts(): Record<string, string> {
  return Object.fromEntries(github.requests.map((request, index) => [`GitHub request ${index}`, `${request.path} ${JSON.stringify(request.query)} ${JSON.stringify(request.body)}`]));
}

function withoutMaskCommands(stdout: string): string {
  return stdout
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');
}

/** Returns a loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a server that replies 400 to every request and quotes its Authorization header, as a broken proxy might. */
async function startEchoServer(): Promise<string> {
  echoServer = createServer((request, response) => {
    const body = JSON.stringify({ name: 'Bad request', message: `Rejected Authorization: ${request.headers.authorization}`, url: request.url });
    response.writeHead(400, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => echoServer!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(echoServer.address() as AddressInfo).port}`;
}

async function actionLeaks(inputs: Record<string, string>) {
  const run = await runAction(inputs, { env: actionEnv() });
  const places = {
    stdout: withoutMaskCommands(run.stdout),
    stderr: run.stderr,
    summary: run.summary,
    outputs: JSON.stringify(run.outputs),
    ...filesUnder(path.join(run.workDir, 'misp-fp-report')),
    ...mailTexts(smtp),
    ...issueTexts(),
  };
  return { run, leaks: leaks(places) };
}

describe('action secrets', () => {
  it('appear only on mask commands in a run that works', async () => {
    const misp = await startMisp();
    const mail = await startSmtp();
    github.issues.set(REPOSITORY, []);

    const { run, leaks: found } = await actionLeaks(allInputs(misp.url, mail.port));

    expect(run.exitCode).toBe(0);
    expect(misp.getAttribute(101)?.to_ids).toBe(false);
    expect(mail.messages).toHaveLength(1);
    expect(github.issues.get(REPOSITORY)).toHaveLength(1);
    expect(reportFileNames(run.workDir)).toEqual(REPORT_FILES);
    expect(found).toEqual([]);
    for (const secret of [MISP_KEY, SMTP_PASSWORD, GITHUB_TOKEN, ...clientKeyLines()]) {
      expect(run.stdout).toContain(`::add-mask::${secret}\n`);
    }
  });

  it('stay hidden when the mail and issue fail', async () => {
    const misp = await startMisp();
    const mail = await startSmtp('another-password');
    github.issues.set(REPOSITORY, []);
    // GitHub never quotes a token; this reply does, to prove that the message is scrubbed.
    github.failWith({ status: 403, body: { message: `Resource not accessible by integration (token ${GITHUB_TOKEN})` } });

    const { run, leaks: found } = await actionLeaks(allInputs(misp.url, mail.port));

    expect(run.exitCode).toBe(1);
    expect(mail.authAttempts).toEqual([SMTP_USER]);
    expect(run.stdout).toMatch(/^::error::The report e-mail was not sent: SMTP authentication failed for user "mailer"/m);
    expect(run.stdout).toMatch(/^::error::The run was not recorded in a GitHub issue: GitHub refused to .*\(403: Resource not accessible by integration/m);
    expect(found).toEqual([]);
  });

  it('stay hidden when TLS verification fails', async () => {
    const misp = await startMisp();
    const inputs = { ...allInputs(misp.url, 1), mail: 'false', issue: 'false', 'misp-ca-cert': '' };

    const { run, leaks: found } = await actionLeaks(inputs);

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('could not be verified');
    expect(found).toEqual([]);
  });

  it('stay hidden when the connection is refused', async () => {
    const mail = await startSmtp();
    github.issues.set(REPOSITORY, []);
    const inputs = { ...allInputs(`http://127.0.0.1:${await closedPort()}`, mail.port), 'misp-ca-cert': '' };

    const { run, leaks: found } = await actionLeaks(inputs);

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/connection to http:\/\/127\.0\.0\.1:\d+ refused/);
    expect(found).toEqual([]);
  }, 30_000);

  it('stay hidden when the server quotes the key', async () => {
    const url = await startEchoServer();

    const { run, leaks: found } = await actionLeaks({ 'misp-url': url, 'misp-key': MISP_KEY, 'artifact-name': '' });

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('::error::misp-fp-demote failed: GET /servers/getVersion failed: HTTP 400: Rejected Authorization: ***');
    expect(found).toEqual([]);
  });
});

describe('MISP client errors', () => {
  it('replace the key quoted by a server', async () => {
    const url = await startEchoServer();
    const misp = new MispClient({
      baseUrl: url,
      key: MISP_KEY,
      connection: { verifyTls: true, caCert: '', clientCert: '', clientKey: '', timeoutMs: 5_000 },
      logger: silentLogger,
      userAgent: 'test',
    });

    const error = await misp.getVersion().then(
      () => undefined,
      (failure: Error) => failure,
    );
    await misp.close();

    expect(error?.message).toBe('GET /servers/getVersion failed: HTTP 400: Rejected Authorization: ***');
  });
});

interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  workDir: string;
}

/** Runs the command line as cron would, with the secrets in environment variables and debug logging. */
async function runCli(env: NodeJS.ProcessEnv): Promise<CliRun> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'misp-fp-demote-secrets-'));
  tempDirs.push(workDir);
  const child = spawn(process.execPath, [path.join(ROOT, 'src', 'cli.ts'), '--verbose', '--summary'], {
    env: { PATH: process.env.PATH, HOME: workDir, ...env },
    cwd: workDir,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
  return { exitCode, stdout, stderr, workDir };
}

function cliEnv(mispUrl: string, smtpPort: number): NodeJS.ProcessEnv {
  return {
    MISP_URL: mispUrl,
    MISP_KEY: MISP_KEY,
    MISP_CA_CERT: certificates.caPem,
    MISP_CLIENT_CERT: client.cert,
    MISP_CLIENT_KEY: client.key,
    MISP_FP_MAIL: 'true',
    MISP_FP_MAIL_WHEN: 'always',
    MISP_FP_SMTP_HOST: '127.0.0.1',
    MISP_FP_SMTP_PORT: String(smtpPort),
    MISP_FP_SMTP_SECURITY: 'tls',
    MISP_FP_SMTP_CA_CERT: certificates.caPem,
    MISP_FP_SMTP_USER: SMTP_USER,
    MISP_FP_SMTP_PASSWORD: SMTP_PASSWORD,
    MISP_FP_MAIL_FROM: 'misp-fp-demote@example.org',
    MISP_FP_MAIL_TO: 'soc@example.org',
    MISP_FP_ISSUE: 'true',
    MISP_FP_GITHUB_TOKEN: GITHUB_TOKEN,
    MISP_FP_ISSUE_REPO: REPOSITORY,
    GITHUB_API_URL: github.url,
  };
}

async function cliLeaks(env: NodeJS.ProcessEnv) {
  const run = await runCli(env);
  const places = {
    stdout: run.stdout,
    stderr: run.stderr,
    ...filesUnder(path.join(run.workDir, 'misp-fp-report')),
    ...mailTexts(smtp),
    ...issueTexts(),
  };
  return { run, leaks: leaks(places) };
}

describe('command line secrets', () => {
  it('appear nowhere in a run that works', async () => {
    const misp = await startMisp();
    const mail = await startSmtp();
    github.issues.set(REPOSITORY, []);

    const { run, leaks: found } = await cliLeaks(cliEnv(misp.url, mail.port));

    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain('debug: MISP POST /attributes/edit/101');
    expect(mail.messages).toHaveLength(1);
    expect(reportFileNames(run.workDir)).toEqual(REPORT_FILES);
    expect(found).toEqual([]);
  });

  it('appear nowhere when the mail and issue fail', async () => {
    const misp = await startMisp();
    const mail = await startSmtp('another-password');
    github.issues.set(REPOSITORY, []);
    github.failWith({ status: 403, body: { message: `Resource not accessible by integration (token ${GITHUB_TOKEN})` } });

    const { run, leaks: found } = await cliLeaks(cliEnv(misp.url, mail.port));

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('SMTP authentication failed for user "mailer"');
    expect(run.stderr).toContain('Resource not accessible by integration');
    expect(found).toEqual([]);
  });

  it('appear nowhere when TLS verification fails', async () => {
    const misp = await startMisp();
    const env = { ...cliEnv(misp.url, 1), MISP_CA_CERT: '', MISP_FP_MAIL: 'false', MISP_FP_ISSUE: 'false' };

    const { run, leaks: found } = await cliLeaks(env);

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('could not be verified');
    expect(found).toEqual([]);
  });

  it('appear nowhere when the server quotes the key', async () => {
    const url = await startEchoServer();

    const { run, leaks: found } = await cliLeaks({ MISP_URL: url, MISP_KEY: MISP_KEY });

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('HTTP 400: Rejected Authorization: ***');
    expect(found).toEqual([]);
  });
});

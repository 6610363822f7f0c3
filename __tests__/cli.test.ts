import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { policyDataset } from './helpers/policy-dataset.ts';
import { ROOT, runAction } from './helpers/run-action.ts';
import { type SmtpSink, startSmtpSink } from './helpers/smtp-sink.ts';

/** The stdout of a run with POLICY_FLAGS on the dataset, byte for byte as the script prints it. */
const EXPECTED_LINES =
  'Disable to_ids for [198.51.100.101] (101) in event [Phishing wave] (1) - FP: 2 TP: 2 \n' +
  'Disable to_ids for [198.51.100.103] (103) in event [Phishing wave] (1) - FP: 3 TP: 0 \n' +
  'Disable to_ids for [cdn.example] (201) in event [Draft event] (2) - FP: 2 TP: 0 \n' +
  '\n';

const POLICY_FLAGS = ['-b', '1', '-t', '0.5', '-d', '2026-06-01T00:00:00Z'];

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function makeTempDir(prefix = 'misp-fp-demote-cli-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The working folder of the run, where the default report folder goes. */
  workDir: string;
}

/** Runs the command line as cron would: a fresh working folder, a bare environment, no terminal. */
async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; entry?: string; workDir?: string } = {}): Promise<CliRun> {
  const workDir = options.workDir ?? (await makeTempDir());
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: workDir, ...options.env };
  const child = spawn(process.execPath, [options.entry ?? path.join(ROOT, 'src', 'cli.ts'), ...args], { env, cwd: workDir });
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

let sandboxes: Sandbox[] = [];
let smtpSink: SmtpSink | undefined;
afterEach(async () => {
  await Promise.all(sandboxes.map((sandbox) => sandbox.close()));
  sandboxes = [];
  await smtpSink?.close();
  smtpSink = undefined;
});

async function start(): Promise<Sandbox> {
  const sandbox = await startSandbox({ dataset: policyDataset() });
  sandboxes.push(sandbox);
  return sandbox;
}

function mispEnv(misp: Sandbox): NodeJS.ProcessEnv {
  return { MISP_URL: misp.url, MISP_KEY: misp.key };
}

function demotedIds(misp: Sandbox): number[] {
  return [101, 102, 103, 104, 105, 201, 202, 301].filter((id) => misp.getAttribute(id)?.to_ids === false);
}

function editCalls(misp: Sandbox) {
  return misp.calls.filter((call) => call.path.startsWith('/attributes/edit/'));
}

async function readReport(workDir: string, folder = 'misp-fp-report') {
  return JSON.parse(await readFile(path.join(workDir, folder, 'misp-fp-report.json'), 'utf8'));
}

/** Returns a loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('command line against the sandbox', () => {
  it('prints the script lines and demotes', async () => {
    const misp = await start();
    const run = await runCli(POLICY_FLAGS, { env: mispEnv(misp) });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
    expect(demotedIds(misp)).toEqual([101, 103, 105, 201]);
    expect(misp.publishes).toEqual(['1']);
    expect(misp.alerts).toEqual([]);

    const report = await readReport(run.workDir);
    expect(report.rows.map((row: { attributeId: string }) => row.attributeId)).toEqual(['101', '103', '201']);
  });

  it('prints nothing when nothing changed', async () => {
    const misp = await start();
    const first = await runCli(POLICY_FLAGS, { env: mispEnv(misp) });
    expect(first.exitCode).toBe(0);

    const second = await runCli(POLICY_FLAGS, { env: mispEnv(misp), workDir: first.workDir });
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toBe('');
    expect(second.stderr).toBe('');
  });

  it('warns that the script date form is UTC', async () => {
    const misp = await start();
    const run = await runCli(['-b', '1', '-t', '0.5', '-d', '2026-06-01 00:00:00'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('warning: minimal-sighting-date "2026-06-01 00:00:00" (set by -d) is read as UTC, 2026-06-01T00:00:00Z.');
  });

  it('lists would-be changes in a dry run', async () => {
    const misp = await start();
    const run = await runCli([...POLICY_FLAGS, '--dry-run'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(0);
    const expected = EXPECTED_LINES.split('\n')
      .filter((line) => line !== '')
      .map((line) => `[dry run] ${line}\n`)
      .join('');
    expect(run.stdout).toBe(`${expected}\n`);
    expect(editCalls(misp)).toEqual([]);
    expect(misp.publishes).toEqual([]);
    expect(demotedIds(misp)).toEqual([105]);
  });

  it('prints the summary with --summary', async () => {
    const misp = await start();
    const run = await runCli([...POLICY_FLAGS, '--summary'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(0);
    expect(run.stdout.startsWith(EXPECTED_LINES)).toBe(true);
    const summary = run.stdout.slice(EXPECTED_LINES.length);
    expect(summary).toContain('misp-fp-demote 0.1.0: 3 attributes demoted');
    expect(summary).toMatch(/^ *1 +Phishing wave +101 +ip-dst +198\[\.\]51\[\.\]100\[\.\]101 +2 +2 +0\.50 +demoted$/m);
    expect(summary).toMatch(/^ *2 +Draft event +no +left unpublished/m);
  });

  it('logs progress with --verbose', async () => {
    const misp = await start();
    const run = await runCli([...POLICY_FLAGS, '-v'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain('== Connect to MISP');
    expect(run.stderr).toContain(path.join(run.workDir, 'misp-fp-report', 'misp-fp-report.json'));
    expect(run.stderr).toMatch(/^debug: MISP POST \/attributes\/restSearch/m);
    expect(run.stderr).not.toContain(misp.key);
  });

  it('writes the report to --report-dir', async () => {
    const misp = await start();
    const run = await runCli([...POLICY_FLAGS, '--report-dir', 'reports/misp'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(0);
    const report = await readReport(run.workDir, 'reports/misp');
    expect(report.counts.demoted).toBe(3);
    const csv = await readFile(path.join(run.workDir, 'reports', 'misp', 'misp-fp-report.csv'), 'utf8');
    expect(csv).toContain(',cdn.example,');
  });
});

describe('command line settings', () => {
  it('reads settings from the environment', async () => {
    const misp = await start();
    const run = await runCli([], {
      env: { ...mispEnv(misp), MISP_FP_MINIMAL_FP: '1', MISP_FP_THRESHOLD: '0.5', MISP_FP_MINIMAL_SIGHTING_DATE: '2026-06-01T00:00:00Z', MISP_FP_DRY_RUN: 'true' },
    });

    expect(run.exitCode).toBe(0);
    expect(run.stdout.split('\n').filter((line) => line.startsWith('[dry run] '))).toHaveLength(3);
    const report = await readReport(run.workDir);
    expect(report.settings).toMatchObject({ minimalFp: 1, threshold: 0.5, dryRun: true });
  });

  it('ranks flag, environment, file, default', async () => {
    const misp = await start();
    const workDir = await makeTempDir();
    const config = path.join(workDir, 'settings.yml');
    await writeFile(config, ['threshold: 0.7', 'minimal-fp: 3', 'page-size: 7', 'dry-run: true'].join('\n'));

    const run = await runCli(['--config', config, '--threshold', '0.9'], {
      env: { ...mispEnv(misp), MISP_FP_THRESHOLD: '0.8', MISP_FP_MINIMAL_FP: '4' },
      workDir,
    });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const { settings } = await readReport(workDir);
    expect(settings.threshold).toBe(0.9);
    expect(settings.minimalFp).toBe(4);
    expect(settings.pageSize).toBe(7);
    expect(settings.republish).toBe('published-only');
  });

  it('reads the key from a config file', async () => {
    const misp = await start();
    const workDir = await makeTempDir();
    const config = path.join(workDir, 'settings.json');
    await writeFile(config, JSON.stringify({ 'misp-url': misp.url, 'misp-key': misp.key, 'minimal-fp': 1, threshold: 0.5, 'minimal-sighting-date': '2026-06-01T00:00:00Z' }));
    await chmod(config, 0o600);

    const run = await runCli(['-c', config], { workDir });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
  });

  it('warns about a readable key file', async () => {
    const misp = await start();
    const workDir = await makeTempDir();
    const config = path.join(workDir, 'settings.yml');
    await writeFile(config, `misp-url: ${misp.url}\nmisp-key: "${misp.key}"\ndry-run: true\n`);
    await chmod(config, 0o644);

    const run = await runCli(['--config', config], { workDir });

    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain(`warning: ${config} holds misp-key and other users may read or change it (mode 644): run chmod 600 ${config}.`);
    expect(run.stderr).not.toContain(misp.key);
  });

  it('does not warn about a config without a key', async () => {
    const misp = await start();
    const workDir = await makeTempDir();
    const config = path.join(workDir, 'settings.yml');
    await writeFile(config, 'dry-run: true\n');
    await chmod(config, 0o644);

    const run = await runCli(['--config', config], { env: mispEnv(misp), workDir });

    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('reads --misp-key-file', async () => {
    const misp = await start();
    const workDir = await makeTempDir();
    const keyFile = path.join(workDir, 'misp.key');
    await writeFile(keyFile, `${misp.key}\n`, { mode: 0o600 });

    const run = await runCli([...POLICY_FLAGS, '--misp-url', misp.url, '--misp-key-file', keyFile], { workDir });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
  });

  it("reads PyMISP's keys.py", async () => {
    const misp = await start();
    const workDir = await makeTempDir();
    const keysFile = path.join(workDir, 'keys.py');
    await writeFile(keysFile, `misp_url = '${misp.url}/'\nmisp_key = '${misp.key}'\nmisp_verifycert = True\n`, { mode: 0o600 });

    const run = await runCli([...POLICY_FLAGS, '--keys-file', keysFile], { workDir });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
  });
});

describe('command line exit status', () => {
  it('rejects the key as a flag', async () => {
    const misp = await start();
    const run = await runCli(['--misp-key', misp.key, '--misp-url', misp.url]);

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('--misp-key is not accepted');
    expect(run.stderr).not.toContain(misp.key);
    expect(run.stdout).toBe('');
    expect(misp.calls).toEqual([]);
  });

  it('exits 2 on an unknown flag', async () => {
    const run = await runCli(['--thresold', '0.5']);

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toBe('misp-fp-demote: unknown option --thresold.\nRun misp-fp-demote --help for the options.\n');
    expect(run.stdout).toBe('');
  });

  it('exits 2 on an unknown config key', async () => {
    const workDir = await makeTempDir();
    await writeFile(path.join(workDir, 'settings.yml'), 'treshold: 0.5\n');
    const run = await runCli(['-c', 'settings.yml'], { workDir });

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('settings.yml: unknown key "treshold"');
  });

  it('exits 2 on invalid settings', async () => {
    const misp = await start();
    const run = await runCli(['-t', '1.5', '--page-size', '0'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('threshold "1.5" is not valid');
    expect(run.stderr).toContain('(set by -t)');
    expect(run.stderr).toContain('page-size "0" is not valid');
    expect(misp.calls).toEqual([]);
  });

  it('exits 2 without a key', async () => {
    const misp = await start();
    const run = await runCli([], { env: { MISP_URL: misp.url } });

    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('misp-key is missing');
    expect(run.stderr).toContain('--misp-key-file PATH, the environment variable MISP_KEY');
  });

  it('exits 1 on a wrong key', async () => {
    const misp = await start();
    const wrongKey = 'B'.repeat(40);
    const run = await runCli(POLICY_FLAGS, { env: { MISP_URL: misp.url, MISP_KEY: wrongKey } });

    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^error: misp-fp-demote failed: .*HTTP 403/m);
    expect(run.stderr).not.toContain(wrongKey);
    expect(run.stdout).toBe('');
    expect(editCalls(misp)).toEqual([]);
  });

  it('exits 1 when max-demotions stops the run', async () => {
    const misp = await start();
    const run = await runCli([...POLICY_FLAGS, '--max-demotions', '2'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error: 1 operation failed: max-demotions \(2\) exceeded\. 0 attributes were demoted\./m);
    expect(editCalls(misp)).toEqual([]);
  });

  it('exits 1 when the mail fails', async () => {
    const misp = await start();
    const port = await closedPort();
    const mailOptions = `smtp_from=misp@example.org;smtp_to=soc@example.org;smtp_server=127.0.0.1:${port}`;
    const run = await runCli([...POLICY_FLAGS, '-m', '-o', mailOptions, '--smtp-security', 'none'], { env: mispEnv(misp) });

    expect(run.exitCode).toBe(1);
    expect(run.stdout).toBe(EXPECTED_LINES);
    expect(run.stderr).toContain('error: The report e-mail was not sent');
    expect(run.stderr).toMatch(/^error: 1 operation failed: mail notification\. 3 attributes were demoted/m);
    expect(demotedIds(misp)).toEqual([101, 103, 105, 201]);
  });

  it('mails the report with the script options', async () => {
    const misp = await start();
    smtpSink = await startSmtpSink({ withoutStartTls: true });
    const mailOptions = `smtp_from=misp@example.org;smtp_to=soc@example.org;smtp_server=127.0.0.1:${smtpSink.port}`;
    const run = await runCli([...POLICY_FLAGS, '--mail', '--mailoptions', mailOptions, '--smtp-security', 'none'], { env: mispEnv(misp) });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
    expect(smtpSink.messages).toHaveLength(1);
    expect(smtpSink.messages[0]!.envelopeFrom).toBe('misp@example.org');
    expect(smtpSink.messages[0]!.envelopeTo).toEqual(['soc@example.org']);
  });

  it('prints help and version', async () => {
    const help = await runCli(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: misp-fp-demote [options]');
    expect(help.stdout).toContain('MISP_FP_THRESHOLD');

    const version = await runCli(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toBe('misp-fp-demote 0.1.0\n');
  });
});

describe('command line and action', () => {
  it('make the same changes', async () => {
    const actionMisp = await start();
    const cliMisp = await start();
    const action = await runAction({
      'misp-url': actionMisp.url,
      'misp-key': actionMisp.key,
      'artifact-name': '',
      'minimal-fp': '1',
      threshold: '0.5',
      'minimal-sighting-date': '2026-06-01T00:00:00Z',
    });
    const cli = await runCli(POLICY_FLAGS, { env: mispEnv(cliMisp) });

    expect(action.exitCode).toBe(0);
    expect(cli.exitCode).toBe(0);
    expect(demotedIds(cliMisp)).toEqual(demotedIds(actionMisp));
    expect(cliMisp.publishes).toEqual(actionMisp.publishes);
    expect(editCalls(cliMisp).map((call) => call.path).sort()).toEqual(editCalls(actionMisp).map((call) => call.path).sort());
  });
});

describe('command line bundle', () => {
  let bundle = '';

  // Built from the current source into a folder outside the repository, which also shows that
  // the bundle runs without node_modules. Like `npm run build`, ncc fails on any type error in
  // the project. --transpile-only would avoid that, but with it ncc 0.45 bundles as CommonJS and
  // rejects the top-level await of src/cli-entry.ts.
  beforeAll(async () => {
    const outDir = await makeTempDir('misp-fp-demote-bundle-');
    const ncc = path.join(ROOT, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');
    const child = spawn(process.execPath, [ncc, 'build', path.join(ROOT, 'src', 'cli-entry.ts'), '-o', outDir, '--no-cache', '--quiet'], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number>((resolve) => child.on('exit', (exitCode) => resolve(exitCode ?? -1)));
    if (code !== 0) throw new Error(`ncc build failed:\n${output}`);
    bundle = path.join(outDir, 'index.js');
  }, 180_000);

  it('starts with a shebang', async () => {
    const text = await readFile(bundle, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('runs like the source', async () => {
    const misp = await start();
    const run = await runCli(POLICY_FLAGS, { env: mispEnv(misp), entry: bundle });

    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(EXPECTED_LINES);
    expect(misp.publishes).toEqual(['1']);

    const version = await runCli(['--version'], { entry: bundle });
    expect(version.stdout).toBe('misp-fp-demote 0.1.0\n');
  });

  // The machines this project runs on come with Node 20 in /usr/bin; where there is none, the
  // test has nothing to run.
  it.runIf(olderNode() !== undefined)('names the Node version it needs', async () => {
    const child = spawn(olderNode()!, [bundle, '--version']);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number>((resolve) => child.on('exit', (exitCode) => resolve(exitCode ?? -1)));

    expect(code).toBe(2);
    expect(stderr).toMatch(/needs Node 24 or newer, but runs on Node 2\d\./);
  });
});

function olderNode(): string | undefined {
  const candidate = '/usr/bin/node';
  if (!existsSync(candidate)) return undefined;
  const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return Number(version.replace(/^v/, '').split('.')[0]) < 24 ? candidate : undefined;
}

/**
 * Runs the action as the Actions runner does: a Node process with INPUT_* variables and the
 * GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and returns what it wrote.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ActionRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  workDir: string;
}

// Tests read the report files after a run, so the folders go only when the test process exits.
const workDirs: string[] = [];
process.on('exit', () => {
  for (const directory of workDirs) rmSync(directory, { recursive: true, force: true });
});

/**
 * `entry` is src/index.ts (run by Node 24 directly) or dist/index.js (the committed bundle).
 * `onStart` receives the process, for tests that kill it halfway.
 */
export async function runAction(
  inputs: Record<string, string>,
  options: { entry?: string; env?: NodeJS.ProcessEnv; onStart?: (child: ChildProcess) => void } = {},
): Promise<ActionRun> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'misp-fp-demote-test-'));
  workDirs.push(workDir);
  const outputFile = path.join(workDir, 'output.txt');
  const summaryFile = path.join(workDir, 'summary.md');
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: workDir,
    ...options.env,
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;

  const entry = path.join(ROOT, options.entry ?? 'src/index.ts');
  const child = spawn(process.execPath, [entry], { env, cwd: workDir });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  options.onStart?.(child);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    // A process ended by a signal has no exit code, so this returns 128 + the signal number, as a shell does.
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + constants.signals[signal] : 1)));
  });

  return {
    exitCode,
    stdout,
    stderr,
    outputs: parseOutputFile(await readFile(outputFile, 'utf8')),
    summary: await readFile(summaryFile, 'utf8'),
    workDir,
  };
}

/** Parses the `name<<delimiter` blocks that @actions/core writes to GITHUB_OUTPUT. */
export function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const pattern = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const match of text.matchAll(pattern)) outputs[match[1]!] = match[3]!;
  return outputs;
}

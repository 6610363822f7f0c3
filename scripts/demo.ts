/**
 * Runs the bundled action (dist/index.js) against the MISP sandbox loaded with the demo dataset,
 * the way the Actions runner does: inputs as INPUT_* variables, the job summary and outputs as
 * files. Prints the summary, the outputs and the state of every attribute before and after,
 * then the report e-mail and GitHub issue, which go to loopback stand-ins.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startSandbox, type Sandbox } from '../sandbox/server.ts';
import { startGitHubIssueStub, startMailCatcher } from './demo-services.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataset = path.join(root, 'sandbox', 'datasets', 'demo.json');

/** The demo settings: sandbox/datasets/README.md lists each attribute's expected decision under them. */
export const DEMO_INPUTS = {
  'minimal-fp': '1',
  threshold: '0.5',
  'minimal-sighting-date': '2026-06-01T00:00:00Z',
  'dry-run': 'false',
  republish: 'published-only',
};

interface AttributeState {
  id: string;
  eventId: string;
  type: string;
  value: string;
  toIds: boolean;
  deleted: boolean;
}

function snapshot(sandbox: Sandbox, ids: string[]): Map<string, AttributeState> {
  const states = new Map<string, AttributeState>();
  for (const id of ids) {
    const attribute = sandbox.getAttribute(id);
    if (!attribute) continue;
    states.set(id, {
      id,
      eventId: String(attribute.event_id),
      type: String(attribute.type),
      value: String(attribute.value),
      toIds: attribute.to_ids === true,
      deleted: attribute.deleted === true,
    });
  }
  return states;
}

function datasetAttributeIds(events: Array<{ Event: Record<string, unknown> }>): string[] {
  const ids: string[] = [];
  for (const { Event: event } of events) {
    const attributes = [
      ...((event.Attribute as Array<{ id: string }>) ?? []),
      ...((event.Object as Array<{ Attribute?: Array<{ id: string }> }>) ?? []).flatMap((object) => object.Attribute ?? []),
    ];
    ids.push(...attributes.map((attribute) => String(attribute.id)));
  }
  return ids;
}

/**
 * Runs the action and prints its log the way a workflow run page shows it: the runner consumes
 * workflow commands such as ::add-mask:: and ::debug::, so they are dropped or rewritten here.
 */
async function runAction(env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [path.join(root, 'dist', 'index.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const shown = showLogLine(line);
    if (shown !== undefined) console.log(shown);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

function showLogLine(line: string): string | undefined {
  const command = /^::([a-z-]+)(?: [^:]*)?::(.*)$/.exec(line);
  if (!command) return line;
  const [, name, message] = command;
  if (name === 'group') return `\n--- ${message}`;
  if (name === 'warning' || name === 'error') return `${name}: ${message}`;
  return undefined;
}

async function main(): Promise<void> {
  const events = JSON.parse(await readFile(dataset, 'utf8')) as Array<{ Event: Record<string, unknown> }>;
  const attributeIds = datasetAttributeIds(events);
  const eventIds = events.map(({ Event: event }) => String(event.id));

  const sandbox = await startSandbox({ dataset });
  const mailCatcher = await startMailCatcher();
  const github = await startGitHubIssueStub();
  try {
    const work = await mkdtemp(path.join(tmpdir(), 'misp-fp-demote-demo-'));
    const summaryFile = path.join(work, 'step-summary.md');
    const outputFile = path.join(work, 'github-output.txt');
    await writeFile(summaryFile, '');
    await writeFile(outputFile, '');

    const before = snapshot(sandbox, attributeIds);
    const publishedBefore = new Map(eventIds.map((id) => [id, sandbox.getEvent(id)?.published === true]));

    const inputs: Record<string, string> = {
      'misp-url': sandbox.url,
      'misp-key': sandbox.key,
      'misp-verify-tls': 'true',
      'page-size': '1000',
      'artifact-name': 'misp-fp-report',
      'report-dir': path.join(work, 'report'),
      ...DEMO_INPUTS,
      mail: 'true',
      'smtp-host': '127.0.0.1',
      'smtp-port': String(mailCatcher.port),
      'smtp-security': 'none',
      'mail-from': 'misp-fp-demote@example.org',
      'mail-to': 'soc@example.org',
      issue: 'true',
      'github-token': 'demo-token-for-the-local-github-stub',
    };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_OUTPUT: outputFile,
      RUNNER_TEMP: work,
      // The issue goes to the local stub; the run link in its body is only text.
      GITHUB_API_URL: github.url,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'example-org/soc-audit',
      GITHUB_RUN_ID: '1',
    };
    for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;

    console.log(`MISP sandbox at ${sandbox.url} with ${dataset}`);
    console.log(`Running dist/index.js with ${Object.entries(DEMO_INPUTS).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    const exitCode = await runAction(env);

    console.log('\n===== Job summary =====\n');
    console.log(await readFile(summaryFile, 'utf8'));
    console.log('===== Outputs =====\n');
    console.log((await readFile(outputFile, 'utf8')).replace(/<<ghadelimiter_[\w-]+\n/g, '=').replace(/\nghadelimiter_[\w-]+\n/g, '\n'));

    console.log('===== Attributes before -> after =====\n');
    const after = snapshot(sandbox, attributeIds);
    for (const [id, old] of before) {
      const now = after.get(id)!;
      const change = old.toIds !== now.toIds ? '  <- demoted' : '';
      const flags = old.deleted ? ' (deleted)' : '';
      console.log(
        `event ${old.eventId.padStart(3)}  attribute ${id.padStart(4)}  ${old.type.padEnd(10)} ${old.value.slice(0, 44).padEnd(44)} to_ids ${String(old.toIds).padEnd(5)} -> ${String(now.toIds).padEnd(5)}${flags}${change}`,
      );
    }

    console.log('\n===== Events before -> after =====\n');
    for (const id of eventIds) {
      const publishes = sandbox.publishes.filter((eventId) => eventId === id).length;
      console.log(
        `event ${id.padStart(3)}  published ${String(publishedBefore.get(id)).padEnd(5)} -> ${String(sandbox.getEvent(id)?.published === true).padEnd(5)}  publish requests: ${publishes}`,
      );
    }
    console.log(`\n/events/publish calls: ${sandbox.publishes.length}; /events/alert calls (e-mail): ${sandbox.alerts.length}`);

    for (const mail of mailCatcher.messages) {
      console.log(`\n===== E-mail received by the local SMTP server on port ${mailCatcher.port} =====\n`);
      console.log(`From: ${mail.from?.text ?? ''}\nTo: ${[mail.to ?? []].flat().map((to) => to.text).join(', ')}\nSubject: ${mail.subject ?? ''}`);
      console.log(`Attachments: ${mail.attachments.map((file) => `${file.filename} (${file.size} bytes)`).join(', ')}\n`);
      console.log(mail.text ?? '');
    }
    for (const issue of github.issues) {
      console.log(`\n===== GitHub issue created in ${issue.repository} (local API stub) =====\n`);
      console.log(`Title: ${issue.title}\nLabels: ${issue.labels.join(', ')}\n`);
      console.log(issue.body);
    }
    console.log(`Report files: ${path.join(work, 'report')}`);
    process.exitCode = exitCode;
  } finally {
    await sandbox.close();
    await mailCatcher.close();
    await github.close();
  }
}

await main();

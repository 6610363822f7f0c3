import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseActionMetadata } from '../scripts/docs.ts';

interface Step {
  uses?: string;
  with?: Record<string, unknown>;
}

interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const actionInputs = parseActionMetadata(readFileSync(path.join(root, 'action.yml'), 'utf8')).inputs;
const requiredInputs = Object.keys(actionInputs).filter((name) => actionInputs[name]?.required);
const PUBLISHED_ACTION = 'misp-fp-demote/misp-fp-demote@v1';

function readWorkflow(relativePath: string): Workflow {
  return parse(readFileSync(path.join(root, relativePath), 'utf8')) as Workflow;
}

/** Returns the `with:` of every step that runs this action, published or from the checkout. */
function actionSteps(workflow: Workflow): Record<string, unknown>[] {
  return Object.values(workflow.jobs)
    .flatMap((job) => job.steps)
    .filter((step) => step.uses === PUBLISHED_ACTION || step.uses === './')
    .map((step) => step.with ?? {});
}

/** Returns the quoted literal at the end of an expression such as `${{ a || 'x' }}`, if any. */
function finalFallback(value: unknown): string | undefined {
  const match = /\|\|\s*'([^']*)'\s*\}\}$/.exec(String(value).trim());
  return match?.[1];
}

const workflowFiles = ['examples/workflows/nightly.yml', 'examples/workflows/manual.yml', '.github/workflows/ci.yml'];

describe.each(workflowFiles)('%s', (file) => {
  const steps = actionSteps(readWorkflow(file));

  it('runs the action', () => {
    expect(steps.length).toBeGreaterThan(0);
  });

  it('passes only inputs that action.yml declares', () => {
    const unknown = steps.flatMap((inputs) => Object.keys(inputs)).filter((name) => !(name in actionInputs));
    expect(unknown).toEqual([]);
  });

  it('passes every required input', () => {
    for (const inputs of steps) {
      const missing = requiredInputs.filter((name) => !(name in inputs));
      expect(missing).toEqual([]);
    }
  });

  it('falls back to the action.yml defaults', () => {
    for (const inputs of steps) {
      for (const [name, value] of Object.entries(inputs)) {
        const fallback = finalFallback(value);
        if (fallback !== undefined) {
          expect(fallback, `fallback of ${name}`).toBe(actionInputs[name]?.default ?? '');
        }
      }
    }
  });
});

describe.each(['examples/workflows/nightly.yml', 'examples/workflows/manual.yml'])('example %s', (file) => {
  const workflow = readWorkflow(file);
  const steps = actionSteps(workflow);

  it('uses the published action', () => {
    const uses = Object.values(workflow.jobs).flatMap((job) => job.steps.map((step) => step.uses));
    expect(uses).toEqual([PUBLISHED_ACTION]);
  });

  it('reads the MISP URL and key from variables and secrets', () => {
    expect(steps[0]?.['misp-url']).toBe('${{ vars.MISP_URL }}');
    expect(steps[0]?.['misp-key']).toBe('${{ secrets.MISP_KEY }}');
  });

  it('grants only read access to contents', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });
});

describe('nightly example', () => {
  const workflow = readWorkflow('examples/workflows/nightly.yml');

  it('runs on a schedule and on demand', () => {
    expect(workflow.on).toHaveProperty('schedule');
    expect(workflow.on).toHaveProperty('workflow_dispatch');
  });
});

describe('manual example', () => {
  const workflow = readWorkflow('examples/workflows/manual.yml');
  const dispatch = workflow.on.workflow_dispatch as { inputs: Record<string, { type: string; default: unknown }> };
  const inputs = actionSteps(workflow)[0] ?? {};

  it.each(['threshold', 'minimal-fp', 'minimal-sighting-date'])('%s falls back to a repository variable', (name) => {
    expect(dispatch.inputs[name]?.default).toBe('');
    expect(String(inputs[name])).toMatch(new RegExp(`^\\$\\{\\{ inputs\\.${name} \\|\\| vars\\.MISP_FP_[A-Z_]+ \\|\\| '`));
  });

  it('starts as a dry run', () => {
    expect(dispatch.inputs['dry-run']).toMatchObject({ type: 'boolean', default: true });
    expect(inputs['dry-run']).toBe('${{ inputs.dry-run }}');
  });
});

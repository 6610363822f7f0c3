import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  extractSection,
  parseActionMetadata,
  readDocsSources,
  renderInputsTable,
  renderOutputsTable,
  renderQuickStart,
  runDocs,
  updateReadme,
  type DocsSources,
} from '../scripts/docs.ts';
import { INPUT_DEFAULTS, OUTPUT_NAMES } from '../src/constants.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const sources = readDocsSources(root);
const actionInputs = sources.metadata.inputs;
const actionOutputNames = Object.keys(sources.metadata.outputs);
const constantInputNames = Object.keys(INPUT_DEFAULTS);
const constantOutputNames: readonly string[] = OUTPUT_NAMES;

// The runner evaluates a default such as `${{ github.token }}`, so no constant can equal it.
const isExpression = (value: string): boolean => value.trim().startsWith('${{');

describe('README generated sections', () => {
  it('inputs table matches action.yml', () => {
    expect(extractSection(readme, 'inputs')).toBe(renderInputsTable(sources.metadata.inputs));
  });

  it('outputs table matches action.yml', () => {
    expect(extractSection(readme, 'outputs')).toBe(renderOutputsTable(sources.metadata.outputs));
  });

  it('quick start matches the nightly example', () => {
    expect(extractSection(readme, 'quick-start')).toBe(renderQuickStart(sources.quickStartWorkflow));
    expect(extractSection(readme, 'manual-workflow')).toBe(renderQuickStart(sources.manualWorkflow!));
  });

  it('docs --check passes on the repository', () => {
    const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'docs.ts'), '--check'], {
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('action.yml and src/constants.ts', () => {
  it('every action.yml input is in INPUT_DEFAULTS', () => {
    const missing = Object.keys(actionInputs).filter((name) => !constantInputNames.includes(name));
    expect(missing).toEqual([]);
  });

  it('every INPUT_DEFAULTS key is in action.yml', () => {
    const missing = constantInputNames.filter((name) => !(name in actionInputs));
    expect(missing).toEqual([]);
  });

  it.each(Object.keys(INPUT_DEFAULTS))('default of %s matches action.yml', (name) => {
    const input = actionInputs[name];
    expect(input, `${name} is missing from action.yml`).toBeDefined();

    const actionDefault = input?.default ?? '';
    const constantDefault = INPUT_DEFAULTS[name as keyof typeof INPUT_DEFAULTS];
    if (isExpression(actionDefault)) {
      expect(constantDefault).toBe('');
    } else {
      expect(constantDefault).toBe(actionDefault);
    }
  });

  it('every action.yml output is in OUTPUT_NAMES', () => {
    const missing = actionOutputNames.filter((name) => !constantOutputNames.includes(name));
    expect(missing).toEqual([]);
  });

  it('every OUTPUT_NAMES entry is in action.yml', () => {
    const missing = constantOutputNames.filter((name) => !actionOutputNames.includes(name));
    expect(missing).toEqual([]);
  });
});

const sampleAction = `
inputs:
  url:
    description: Server URL.
    required: true
  mode:
    description: |
      One of a | b,
      or c.
    default: a
  retries:
    description: Retry count.
    default: 3
  folder:
    description: Output folder.
    default: ""
outputs:
  count:
    description: Items seen.
`;

const sampleSources: DocsSources = {
  metadata: parseActionMetadata(sampleAction),
  quickStartWorkflow: 'on: push\n',
};

const sampleReadme = [
  '# Title',
  '',
  '<!-- quick-start:start -->',
  'old workflow',
  '<!-- quick-start:end -->',
  '',
  'Text between.',
  '',
  '<!-- inputs:start -->',
  'old inputs',
  '<!-- inputs:end -->',
  '',
  '<!-- outputs:start -->',
  '<!-- outputs:end -->',
  '',
  'Closing text.',
  '',
].join('\n');

describe('parseActionMetadata', () => {
  it('reads required flags and string defaults', () => {
    const { inputs } = sampleSources.metadata;
    expect(inputs.url).toEqual({ description: 'Server URL.', required: true });
    expect(inputs.mode?.default).toBe('a');
    expect(inputs.mode?.required).toBe(false);
  });

  it('turns a number default into its string form', () => {
    expect(sampleSources.metadata.inputs.retries?.default).toBe('3');
  });

  it('rejects an input without description', () => {
    expect(() => parseActionMetadata('inputs:\n  url:\n    required: true\n')).toThrow(
      'action.yml: input url has no description',
    );
  });

  it('rejects an output without description', () => {
    expect(() => parseActionMetadata('outputs:\n  count: {}\n')).toThrow('action.yml: output count has no description');
  });

  it('rejects a mapping as default', () => {
    expect(() => parseActionMetadata('inputs:\n  a:\n    description: A.\n    default: {b: 1}\n')).toThrow(
      'input a has a default that is not a string',
    );
  });
});

describe('renderInputsTable', () => {
  const rows = renderInputsTable(sampleSources.metadata.inputs).split('\n');

  it('writes the header and one row per input', () => {
    expect(rows[0]).toBe('| input | default | required | description |');
    expect(rows).toHaveLength(2 + 4);
  });

  it('leaves the default empty for a required input', () => {
    expect(rows[2]).toBe('| `url` |  | yes | Server URL. |');
  });

  it('escapes pipes and joins description lines', () => {
    expect(rows[3]).toBe('| `mode` | `a` | no | One of a \\| b, or c. |');
  });

  it('leaves an empty default cell empty', () => {
    expect(rows[5]).toBe('| `folder` |  | no | Output folder. |');
  });

  it('widens the code span around backticks', () => {
    const table = renderInputsTable({ a: { description: 'A.', required: false, default: 'x`y' } });
    expect(table.split('\n')[2]).toBe('| `a` | `` x`y `` | no | A. |');
  });
});

describe('renderOutputsTable', () => {
  it('writes one row per output', () => {
    expect(renderOutputsTable(sampleSources.metadata.outputs)).toBe(
      '| output | description |\n| --- | --- |\n| `count` | Items seen. |',
    );
  });
});

describe('updateReadme', () => {
  const updated = updateReadme(sampleReadme, sampleSources);

  it('replaces the text between each pair of markers', () => {
    expect(extractSection(updated, 'quick-start')).toBe('```yaml\non: push\n```');
    expect(extractSection(updated, 'inputs')).toBe(renderInputsTable(sampleSources.metadata.inputs));
    expect(extractSection(updated, 'outputs')).toBe(renderOutputsTable(sampleSources.metadata.outputs));
    expect(updated).not.toContain('old inputs');
  });

  it('keeps the text outside the markers', () => {
    expect(updated.startsWith('# Title\n\n<!-- quick-start:start -->\n')).toBe(true);
    expect(updated).toContain('\n<!-- quick-start:end -->\n\nText between.\n\n<!-- inputs:start -->\n');
    expect(updated.endsWith('<!-- outputs:end -->\n\nClosing text.\n')).toBe(true);
  });

  it('gives the same text when run twice', () => {
    expect(updateReadme(updated, sampleSources)).toBe(updated);
  });

  it('rejects a README without a start marker', () => {
    const broken = sampleReadme.replace('<!-- outputs:start -->', '');
    expect(() => updateReadme(broken, sampleSources)).toThrow('README.md has no <!-- outputs:start --> marker');
  });

  it('rejects an end marker before its start marker', () => {
    const broken = sampleReadme.replace('<!-- inputs:end -->', '').replace('# Title', '# Title\n<!-- inputs:end -->');
    expect(() => updateReadme(broken, sampleSources)).toThrow('README.md has no <!-- inputs:end --> marker after');
  });

  it('rejects a duplicated start marker', () => {
    const broken = `${sampleReadme}\n<!-- inputs:start -->\n`;
    expect(() => updateReadme(broken, sampleSources)).toThrow('README.md has more than one <!-- inputs:start --> marker');
  });
});

describe('runDocs', () => {
  let folder = '';

  afterEach(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  function makeProject(): string {
    folder = mkdtempSync(path.join(tmpdir(), 'misp-fp-demote-docs-'));
    writeFileSync(path.join(folder, 'action.yml'), sampleAction);
    writeFileSync(path.join(folder, 'README.md'), sampleReadme);
    mkdirSync(path.join(folder, 'examples', 'workflows'), { recursive: true });
    writeFileSync(path.join(folder, 'examples', 'workflows', 'nightly.yml'), sampleSources.quickStartWorkflow);
    return folder;
  }

  it('check rejects an outdated README', () => {
    const project = makeProject();
    const result = runDocs(project, true);
    expect(result.exitCode).toBe(1);
    expect(result.message).toContain('run npm run docs');
    expect(readFileSync(path.join(project, 'README.md'), 'utf8')).toBe(sampleReadme);
  });

  it('write makes check pass', () => {
    const project = makeProject();
    expect(runDocs(project, false).exitCode).toBe(0);
    expect(readFileSync(path.join(project, 'README.md'), 'utf8')).toBe(updateReadme(sampleReadme, sampleSources));
    expect(runDocs(project, true).exitCode).toBe(0);
  });
});

describe('docs command line', () => {
  it('rejects an unknown argument', () => {
    const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'docs.ts'), '--write'], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown argument --write');
  });
});

/**
 * Regenerates the generated parts of README.md: the inputs and outputs tables from action.yml,
 * the quick-start workflow from examples/workflows/nightly.yml and the on-demand workflow from
 * examples/workflows/manual.yml.
 *
 * Usage: `node scripts/docs.ts` rewrites README.md in place. `node scripts/docs.ts --check`
 * changes nothing and exits 1 when README.md is out of date.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface ActionInput {
  description: string;
  required: boolean;
  /** Absent when action.yml gives no default; the runner then passes an empty string. */
  default?: string;
}

export interface ActionOutput {
  description: string;
}

/** The parts of action.yml that the README documents, in the order action.yml lists them. */
export interface ActionMetadata {
  inputs: Record<string, ActionInput>;
  outputs: Record<string, ActionOutput>;
}

export type SectionName = 'inputs' | 'outputs' | 'quick-start' | 'manual-workflow';

/** Source texts of the generated README sections. */
export interface DocsSources {
  metadata: ActionMetadata;
  /** Text of the workflow that the quick start shows. */
  quickStartWorkflow: string;
  /** Text of the on-demand workflow; shown where the README has its markers. */
  manualWorkflow?: string;
}

export interface DocsResult {
  exitCode: number;
  message: string;
}

const REPOSITORY_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const QUICK_START_WORKFLOW = path.join('examples', 'workflows', 'nightly.yml');
const MANUAL_WORKFLOW = path.join('examples', 'workflows', 'manual.yml');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readDescription(entry: unknown, where: string): string {
  if (!isRecord(entry) || typeof entry.description !== 'string' || entry.description.trim() === '') {
    throw new Error(`action.yml: ${where} has no description`);
  }
  return entry.description;
}

function readInput(name: string, entry: unknown): ActionInput {
  const description = readDescription(entry, `input ${name}`);
  const fields = entry as Record<string, unknown>;
  const input: ActionInput = { description, required: fields.required === true };

  // The runner turns a YAML number or boolean default into its string form.
  const value = fields.default;
  if (value === undefined || value === null) {
    return input;
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new Error(`action.yml: input ${name} has a default that is not a string, number or boolean`);
  }
  input.default = String(value);
  return input;
}

/** Parses the inputs and outputs of an action.yml text, or throws naming the invalid entry. */
export function parseActionMetadata(text: string): ActionMetadata {
  const document: unknown = parse(text);
  if (!isRecord(document)) {
    throw new Error('action.yml: expected a mapping at the top level');
  }

  const inputs: Record<string, ActionInput> = {};
  const outputs: Record<string, ActionOutput> = {};
  const inputEntries = document.inputs ?? {};
  const outputEntries = document.outputs ?? {};
  if (!isRecord(inputEntries)) {
    throw new Error('action.yml: inputs must be a mapping');
  }
  if (!isRecord(outputEntries)) {
    throw new Error('action.yml: outputs must be a mapping');
  }

  for (const [name, entry] of Object.entries(inputEntries)) {
    inputs[name] = readInput(name, entry);
  }
  for (const [name, entry] of Object.entries(outputEntries)) {
    outputs[name] = { description: readDescription(entry, `output ${name}`) };
  }
  return { inputs, outputs };
}

/** Formats text as a Markdown code span, with a fence longer than any backtick run inside it. */
function codeSpan(text: string): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longestRun + 1);
  const padding = longestRun > 0 ? ' ' : '';
  return `${fence}${padding}${text}${padding}${fence}`;
}

/** Makes text fit one table cell: a pipe would end the cell and a line break the row. */
function escapeCell(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');
}

export function renderInputsTable(inputs: Record<string, ActionInput>): string {
  const rows = ['| input | default | required | description |', '| --- | --- | --- | --- |'];
  for (const [name, input] of Object.entries(inputs)) {
    // An empty default and a missing one reach the action alike, as an empty string.
    const defaultCell = input.default ? escapeCell(codeSpan(input.default)) : '';
    const requiredCell = input.required ? 'yes' : 'no';
    rows.push(`| ${codeSpan(name)} | ${defaultCell} | ${requiredCell} | ${escapeCell(input.description)} |`);
  }
  return rows.join('\n');
}

export function renderOutputsTable(outputs: Record<string, ActionOutput>): string {
  const rows = ['| output | description |', '| --- | --- |'];
  for (const [name, output] of Object.entries(outputs)) {
    rows.push(`| ${codeSpan(name)} | ${escapeCell(output.description)} |`);
  }
  return rows.join('\n');
}

export function renderQuickStart(workflow: string): string {
  return `\`\`\`yaml\n${workflow.trimEnd()}\n\`\`\``;
}

/** Finds the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`, or throws if the pair is missing. */
function locateSection(readme: string, name: SectionName): { contentStart: number; contentEnd: number } {
  const startMarker = `<!-- ${name}:start -->`;
  const endMarker = `<!-- ${name}:end -->`;

  const startIndex = readme.indexOf(startMarker);
  if (startIndex === -1) {
    throw new Error(`README.md has no ${startMarker} marker`);
  }
  if (readme.indexOf(startMarker, startIndex + 1) !== -1) {
    throw new Error(`README.md has more than one ${startMarker} marker`);
  }
  const contentStart = startIndex + startMarker.length;
  const contentEnd = readme.indexOf(endMarker, contentStart);
  if (contentEnd === -1) {
    throw new Error(`README.md has no ${endMarker} marker after ${startMarker}`);
  }
  return { contentStart, contentEnd };
}

/** Returns the text between a section's markers, without the blank lines around it. */
export function extractSection(readme: string, name: SectionName): string {
  const { contentStart, contentEnd } = locateSection(readme, name);
  return readme.slice(contentStart, contentEnd).trim();
}

function replaceSection(readme: string, name: SectionName, content: string): string {
  const { contentStart, contentEnd } = locateSection(readme, name);
  // Blank lines keep the content a Markdown block of its own next to the HTML comments.
  return `${readme.slice(0, contentStart)}\n\n${content}\n\n${readme.slice(contentEnd)}`;
}

/** Returns the README text with every generated section rebuilt; the rest is kept as is. */
export function updateReadme(readme: string, sources: DocsSources): string {
  let updated = replaceSection(readme, 'quick-start', renderQuickStart(sources.quickStartWorkflow));
  if (sources.manualWorkflow !== undefined && readme.includes('<!-- manual-workflow:start -->')) {
    updated = replaceSection(updated, 'manual-workflow', renderQuickStart(sources.manualWorkflow));
  }
  updated = replaceSection(updated, 'inputs', renderInputsTable(sources.metadata.inputs));
  return replaceSection(updated, 'outputs', renderOutputsTable(sources.metadata.outputs));
}

/** Reads the files under root that the generated README sections come from. */
export function readDocsSources(root: string): DocsSources {
  return {
    metadata: parseActionMetadata(readFileSync(path.join(root, 'action.yml'), 'utf8')),
    quickStartWorkflow: readFileSync(path.join(root, QUICK_START_WORKFLOW), 'utf8'),
    manualWorkflow: existsSync(path.join(root, MANUAL_WORKFLOW)) ? readFileSync(path.join(root, MANUAL_WORKFLOW), 'utf8') : undefined,
  };
}

/** Rewrites the generated sections of root/README.md, or with check only compares them. */
export function runDocs(root: string, check: boolean): DocsResult {
  const readmePath = path.join(root, 'README.md');
  const current = readFileSync(readmePath, 'utf8');
  const expected = updateReadme(current, readDocsSources(root));

  if (current === expected) {
    return { exitCode: 0, message: `README.md is up to date with action.yml and ${QUICK_START_WORKFLOW}.` };
  }
  if (check) {
    return {
      exitCode: 1,
      message: `README.md is out of date with action.yml or ${QUICK_START_WORKFLOW}: run npm run docs and commit README.md.`,
    };
  }
  writeFileSync(readmePath, expected);
  return { exitCode: 0, message: `Updated README.md from action.yml and ${QUICK_START_WORKFLOW}.` };
}

function main(args: string[]): number {
  const unknown = args.filter((arg) => arg !== '--check');
  if (unknown.length > 0) {
    console.error(`error: unknown argument ${unknown[0]}. Usage: node scripts/docs.ts [--check]`);
    return 2;
  }

  try {
    const result = runDocs(REPOSITORY_ROOT, args.includes('--check'));
    if (result.exitCode === 0) {
      console.log(result.message);
    } else {
      console.error(`error: ${result.message}`);
    }
    return result.exitCode;
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = main(process.argv.slice(2));
}

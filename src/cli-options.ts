/**
 * Parsing for the command-line entry: argv, environment variables, a config file and PyMISP's
 * keys.py, each turned into action input values. Pure: the caller reads the files and passes
 * their text in. Options and variables are derived from INPUT_NAMES, so a new action input gets
 * its option and variable without a change here.
 */
import { parseArgs } from 'node:util';
import { isMap, isScalar, parseDocument, Scalar } from 'yaml';
import { INPUT_DEFAULTS, INPUT_NAMES, type InputName } from './constants.ts';

export const PROGRAM_NAME = 'misp-fp-demote';

/** Bad command-line usage or an unreadable settings source; the command exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An input value and where it came from, such as "--threshold" or "MISP_FP_THRESHOLD". */
export interface SourcedValue {
  value: string;
  source: string;
}

export type InputValues = Map<InputName, SourcedValue>;

/** Inputs that only the GitHub Action reads: the command line writes report files and uploads nothing. */
const ACTION_ONLY_INPUTS: ReadonlySet<string> = new Set(['artifact-name']);

/**
 * Inputs whose value is a secret, recognised by name so that a new secret input is covered too.
 * Their values are never accepted as option values, because the command line of a running
 * process is visible to other users in `ps` and ends up in the shell history.
 */
const SECRET_INPUT_PATTERN = /(?:^|-)(?:key|password|token|secret)$/;

/** Defaults that differ from INPUT_DEFAULTS outside GitHub Actions. */
export const CLI_DEFAULTS: Partial<Record<InputName, string>> = { 'report-dir': './misp-fp-report' };

export function isSecretInput(name: string): boolean {
  return SECRET_INPUT_PATTERN.test(name);
}

/** Returns whether an input is a flag with a --no- form, which is so when its default is true or false. */
export function isBooleanInput(name: InputName): boolean {
  return INPUT_DEFAULTS[name] === 'true' || INPUT_DEFAULTS[name] === 'false';
}

/** Returns the action inputs that the command line reads, in the order of INPUT_DEFAULTS. */
export function cliInputNames(): InputName[] {
  return INPUT_NAMES.filter((name) => !ACTION_ONLY_INPUTS.has(name));
}

function upperSnake(name: string): string {
  return name.replace(/-/g, '_').toUpperCase();
}

/**
 * Returns the environment variable of an input. Inputs whose name starts with misp- drop no
 * prefix, so misp-url is MISP_URL. The others get the prefix MISP_FP_, so threshold is
 * MISP_FP_THRESHOLD.
 */
export function environmentVariable(name: InputName): string {
  return name.startsWith('misp-') ? upperSnake(name) : `MISP_FP_${upperSnake(name)}`;
}

/** Returns the option that sets an input: --misp-key-file PATH for a secret, --NAME for the rest. */
export function optionForInput(name: InputName): string {
  return isSecretInput(name) ? `--${name}-file` : `--${name}`;
}

// ---------------------------------------------------------------------------------------------
// argv

type OptionTarget =
  | { kind: 'input'; input: InputName }
  | { kind: 'secret-file'; input: InputName }
  | { kind: 'config' | 'keys-file' | 'summary' | 'verbose' | 'quiet' | 'help' | 'version' };

interface OptionSpec {
  long: string;
  short?: string;
  type: 'string' | 'boolean';
  target: OptionTarget;
}

/** The short options and spellings of PyMISP's falsepositive_disabletoids.py, mapped to inputs. */
export const SCRIPT_ALIASES: ReadonlyArray<{ long?: string; short?: string; input: string }> = [
  { short: 'b', input: 'minimal-fp' },
  { short: 't', input: 'threshold' },
  { short: 'd', long: 'minimal-date-sighting', input: 'minimal-sighting-date' },
  { short: 'm', input: 'mail' },
  { short: 'o', long: 'mailoptions', input: 'mail-options' },
];

function buildOptionSpecs(): OptionSpec[] {
  const specs: OptionSpec[] = [];
  for (const input of cliInputNames()) {
    const aliases = SCRIPT_ALIASES.filter((alias) => alias.input === input);
    const short = aliases.find((alias) => alias.short !== undefined)?.short;
    if (isSecretInput(input)) {
      specs.push({ long: `${input}-file`, type: 'string', target: { kind: 'secret-file', input } });
      continue;
    }
    const type = isBooleanInput(input) ? 'boolean' : 'string';
    specs.push({ long: input, ...(short === undefined ? {} : { short }), type, target: { kind: 'input', input } });
    for (const alias of aliases) {
      if (alias.long !== undefined) specs.push({ long: alias.long, type, target: { kind: 'input', input } });
    }
  }
  specs.push(
    { long: 'config', short: 'c', type: 'string', target: { kind: 'config' } },
    { long: 'keys-file', type: 'string', target: { kind: 'keys-file' } },
    { long: 'summary', type: 'boolean', target: { kind: 'summary' } },
    { long: 'verbose', short: 'v', type: 'boolean', target: { kind: 'verbose' } },
    { long: 'quiet', short: 'q', type: 'boolean', target: { kind: 'quiet' } },
    { long: 'help', short: 'h', type: 'boolean', target: { kind: 'help' } },
    { long: 'version', type: 'boolean', target: { kind: 'version' } },
  );
  return specs;
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

export interface CommandLine {
  help: boolean;
  version: boolean;
  configFile?: string;
  keysFile?: string;
  /** undefined: print the summary when stdout is a terminal. */
  summary?: boolean;
  /** undefined: info on a terminal, warnings and errors otherwise. */
  logLevel?: LogLevel;
  /** Input values given as options. */
  inputs: InputValues;
  /** Files that hold the value of a secret input, read by the caller. */
  secretFiles: Map<InputName, SourcedValue>;
}

/** Parses argv (without the node and script paths). Throws UsageError for anything it cannot use. */
export function parseCommandLine(argv: string[]): CommandLine {
  rejectSecretOptions(argv);

  const specs = buildOptionSpecs();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const spec of specs) options[spec.long] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };

  let tokens;
  try {
    ({ tokens } = parseArgs({ args: argv, options, strict: true, allowPositionals: false, allowNegative: true, tokens: true }));
  } catch (error) {
    throw new UsageError(describeParseArgsError(error as Error & { code?: string }));
  }

  const commandLine: CommandLine = { help: false, version: false, inputs: new Map(), secretFiles: new Map() };
  const bySpelling = new Map(specs.map((spec) => [spec.long, spec]));
  let verbose: string | undefined;
  let quiet: string | undefined;

  // Tokens come in argv order, so a later option wins over an earlier one for the same input.
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = bySpelling.get(token.name)!;
    const negated = token.rawName.startsWith('--no-');
    const flagValue = negated ? 'false' : 'true';
    const target = spec.target;

    switch (target.kind) {
      case 'input':
        commandLine.inputs.set(target.input, { value: spec.type === 'boolean' ? flagValue : (token.value ?? ''), source: token.rawName });
        break;
      case 'secret-file':
        commandLine.secretFiles.set(target.input, { value: token.value ?? '', source: token.rawName });
        break;
      case 'config':
        commandLine.configFile = token.value;
        break;
      case 'keys-file':
        commandLine.keysFile = token.value;
        break;
      case 'summary':
        commandLine.summary = !negated;
        break;
      case 'verbose':
        verbose = negated ? undefined : token.rawName;
        break;
      case 'quiet':
        quiet = negated ? undefined : token.rawName;
        break;
      case 'help':
        commandLine.help = !negated;
        break;
      case 'version':
        commandLine.version = !negated;
        break;
    }
  }

  if (verbose !== undefined && quiet !== undefined) {
    throw new UsageError(`${verbose} and ${quiet} contradict each other: use one of them.`);
  }
  if (verbose !== undefined) commandLine.logLevel = 'debug';
  if (quiet !== undefined) commandLine.logLevel = 'error';
  return commandLine;
}

/** Rejects --misp-key VALUE and --misp-key=VALUE before anything could echo the value. */
function rejectSecretOptions(argv: string[]): void {
  for (const argument of argv) {
    if (argument === '--') return;
    const name = /^--([^=]+)/.exec(argument)?.[1];
    if (name === undefined || !isSecretInput(name) || !(INPUT_NAMES as readonly string[]).includes(name)) continue;

    const input = name as InputName;
    throw new UsageError(
      `--${input} is not accepted, because a value on the command line is visible to other users in ps and stays in the shell history. ` +
        `Set the environment variable ${environmentVariable(input)}, use --${input}-file PATH, or put ${input} in the --config file.`,
    );
  }
}

/** Rewords the errors of util.parseArgs, leaving out any argument that could be a secret. */
function describeParseArgsError(error: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(error.message)?.[1] ?? '';
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return describeUnknownOption(quoted);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument "${hideKeyShapedText(quoted)}": ${PROGRAM_NAME} takes options only. A value that starts with "-" goes after "=", as in --threshold=-1.`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(error.message)) {
        const name = quoted.replace(/^-+/, '');
        return `${quoted} takes no value: write ${quoted} to turn it on or --no-${name} to turn it off.`;
      }
      return error.message.replace(/\n/g, ' ');
    default:
      // Missing or ambiguous values: these messages name the option, never its value.
      return error.message.replace(/\n/g, ' ');
  }
}

function describeUnknownOption(option: string): string {
  const name = option.replace(/^-+/, '').replace(/^no-/, '');
  if (ACTION_ONLY_INPUTS.has(name)) {
    return `unknown option ${option}: ${name} is an input of the GitHub Action only, because the command line uploads no artifact. The report files go to --report-dir.`;
  }
  const dashed = option.replace(/_/g, '-');
  const known = buildOptionSpecs().some((spec) => `--${spec.long}` === dashed);
  if (known) return `unknown option ${option}: did you mean ${dashed}?`;
  return `unknown option ${option}.`;
}

const KEY_SHAPED = /[A-Za-z0-9]{40}/g;

/** Replaces text shaped like a MISP API key, for messages that echo what the user typed. */
export function hideKeyShapedText(text: string): string {
  return text.replace(KEY_SHAPED, '[40-character value hidden]');
}

// ---------------------------------------------------------------------------------------------
// Environment

/**
 * Reads every input from its environment variable. An empty variable counts as unset, so that
 * `MISP_FP_THRESHOLD=` in a crontab falls back to the config file or the default. Returns a
 * warning for each MISP_FP_ variable that sets nothing, which is usually a misspelt name.
 */
export function readEnvironment(env: NodeJS.ProcessEnv): { inputs: InputValues; warnings: string[] } {
  const inputs: InputValues = new Map();
  const known = new Set<string>();
  for (const input of cliInputNames()) {
    const variable = environmentVariable(input);
    known.add(variable);
    const value = env[variable];
    if (value !== undefined && value !== '') inputs.set(input, { value, source: variable });
  }

  const warnings: string[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('MISP_FP_') || known.has(variable)) continue;
    warnings.push(`The environment variable ${variable} is not a setting of ${PROGRAM_NAME} and is ignored: run ${PROGRAM_NAME} --help for the variable names.`);
  }
  return { inputs, warnings };
}

// ---------------------------------------------------------------------------------------------
// Config file

/**
 * Parses a config file: a JSON or YAML mapping from input names to values, such as
 * `threshold: 0.5`. JSON is parsed strictly when the file name ends in .json. YAML scalars are
 * kept exactly as written (YAML's failsafe schema), so `threshold: 0.50` stays "0.50" and a key
 * made of digits is not turned into a number. An empty value or null leaves the input unset.
 */
export function parseConfigText(text: string, file: string): InputValues {
  const entries = file.toLowerCase().endsWith('.json') ? readJsonEntries(text, file) : readYamlEntries(text, file);
  const source = `config file ${file}`;
  const inputs: InputValues = new Map();
  const unknown: string[] = [];

  for (const [key, value] of entries) {
    if (!(cliInputNames() as string[]).includes(key)) {
      unknown.push(describeUnknownKey(key));
      continue;
    }
    if (value === undefined) continue;
    inputs.set(key as InputName, { value, source });
  }
  if (unknown.length > 0) {
    throw new UsageError(`${file}: ${unknown.join('; ')}. The keys are the action input names, such as misp-url and threshold (see --help).`);
  }
  return inputs;
}

function describeUnknownKey(key: string): string {
  if (ACTION_ONLY_INPUTS.has(key)) return `"${key}" is an input of the GitHub Action only`;
  const dashed = key.replace(/_/g, '-');
  if ((cliInputNames() as string[]).includes(dashed)) return `unknown key "${key}" (did you mean "${dashed}"?)`;
  return `unknown key "${key}"`;
}

type ConfigEntry = [key: string, value: string | undefined];

function readJsonEntries(text: string, file: string): ConfigEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    // The parser's message can quote the text around the error, which may hold the key.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    const where = position === undefined ? '' : ` at ${lineAndColumn(text, Number(position))}`;
    throw new UsageError(`${file} is not valid JSON${where}: fix the syntax, or give the file a .yml name to write YAML.`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new UsageError(`${file} is not a JSON object: write {"misp-url": "https://misp.example.org", "threshold": 0.5}.`);
  }

  return Object.entries(data).map(([key, value]): ConfigEntry => {
    if (value === null) return [key, undefined];
    if (isSecretInput(key) && typeof value !== 'string') {
      throw new UsageError(`${file}: "${key}" must be a string in double quotes.`);
    }
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return [key, String(value)];
    throw new UsageError(`${file}: "${key}" must be a string, number or boolean. Write a list as one comma-separated string.`);
  });
}

const YAML_NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);

function readYamlEntries(text: string, file: string): ConfigEntry[] {
  // prettyErrors is off because the pretty form quotes the source line, which may hold the key.
  const document = parseDocument(text, { schema: 'failsafe', prettyErrors: false, uniqueKeys: true });
  const problem = document.errors[0];
  if (problem) {
    throw new UsageError(`${file} is not valid YAML at ${lineAndColumn(text, problem.pos[0])}: ${problem.message}.`);
  }
  if (document.contents === null) return [];
  if (!isMap(document.contents)) {
    throw new UsageError(`${file} is not a mapping: write one "name: value" line per setting, such as "threshold: 0.5".`);
  }

  return document.contents.items.map((pair): ConfigEntry => {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    const value = pair.value;
    if (value === null || (isScalar(value) && value.type === Scalar.PLAIN && YAML_NULLS.has(String(value.value)))) {
      return [key, undefined];
    }
    if (!isScalar(value)) {
      throw new UsageError(`${file}: "${key}" must be a single value. Write a list as one comma-separated string.`);
    }
    return [key, String(value.value)];
  });
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

// ---------------------------------------------------------------------------------------------
// PyMISP keys.py

const KEYS_PY_LINE = /^\s*(misp_url|misp_key|misp_verifycert|misp_client_cert)\s*=\s*(.*?)\s*(?:#.*)?$/;
const PYTHON_STRING = /^[rR]?(?:'([^'\\]*)'|"([^"\\]*)")$/;

/**
 * Reads misp_url, misp_key and misp_verifycert from PyMISP's keys.py. Only plain assignments are
 * understood: `name = 'text'`, `name = "text"`, True or False. Any other value of these names
 * (an expression, an f-string) is rejected rather than guessed. Other lines are ignored.
 * misp_verifycert may also be the path of a CA bundle, as requests accepts; it then sets
 * misp-ca-cert.
 */
export function parseKeysPy(text: string, file: string): InputValues {
  const source = `keys file ${file}`;
  const inputs: InputValues = new Map();

  text.split(/\r?\n/).forEach((line, index) => {
    const match = KEYS_PY_LINE.exec(line);
    if (!match) return;
    const [, name, literal = ''] = match;
    const where = `${file} line ${index + 1}`;

    if (name === 'misp_verifycert') {
      if (literal === 'True' || literal === 'False') {
        inputs.set('misp-verify-tls', { value: literal === 'True' ? 'true' : 'false', source });
        return;
      }
      const path = readPythonString(literal);
      if (path !== undefined && (INPUT_NAMES as readonly string[]).includes('misp-ca-cert')) {
        inputs.set('misp-ca-cert' as InputName, { value: path, source });
        return;
      }
      throw new UsageError(`${where}: misp_verifycert must be True, False or a quoted path to a CA bundle.`);
    }

    const value = readPythonString(literal);
    if (value === undefined) {
      // The literal is not echoed: for misp_key it is the key, or an expression that computes it.
      throw new UsageError(`${where}: ${name} is not a plain quoted string. Write ${name} = '...', or set the value with --config or an environment variable.`);
    }
    if (name === 'misp_url') inputs.set('misp-url', { value, source });
    if (name === 'misp_key') inputs.set('misp-key', { value, source });
    if (name === 'misp_client_cert' && value !== '') {
      throw new UsageError(`${where}: misp_client_cert is not read from keys.py: set misp-client-cert and misp-client-key in the --config file instead.`);
    }
  });
  return inputs;
}

function readPythonString(literal: string): string | undefined {
  const match = PYTHON_STRING.exec(literal);
  if (!match) return undefined;
  return match[1] ?? match[2] ?? '';
}

// ---------------------------------------------------------------------------------------------
// Merging

/** Merges value layers, the first layer winning: flags, then environment, config file, keys.py. */
export function mergeInputLayers(layers: InputValues[]): InputValues {
  const merged: InputValues = new Map();
  for (const layer of layers) {
    for (const [name, value] of layer) {
      if (!merged.has(name)) merged.set(name, value);
    }
  }
  return merged;
}

/** Lists the ways to set an input, for messages about a missing or invalid value. */
export function describeInputSources(name: InputName): string {
  const option = isSecretInput(name) ? `${optionForInput(name)} PATH` : optionForInput(name);
  return `${option}, the environment variable ${environmentVariable(name)}, or "${name}" in the --config file`;
}

/**
 * Adds to a settings problem where its value came from, or how to set the input when it was
 * unset, so that a message written for the action's inputs also guides a command-line user.
 * The problem must start with the input name, as parseSettings writes them; others are returned
 * unchanged.
 */
export function annotateProblem(problem: string, inputs: InputValues): string {
  const name = [...INPUT_NAMES]
    .sort((a, b) => b.length - a.length)
    .find((candidate) => problem.startsWith(`${candidate} `) || problem.startsWith(`${candidate}:`));
  if (name === undefined || ACTION_ONLY_INPUTS.has(name)) return problem;

  const sourced = inputs.get(name);
  if (sourced !== undefined) return `${problem} (set by ${sourced.source})`;
  return `${problem} Set it with ${describeInputSources(name)}.`;
}

// ---------------------------------------------------------------------------------------------
// Old date form

const SCRIPT_DATE_FORM = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

/**
 * Returns a warning when minimal-sighting-date has the script's "YYYY-MM-DD HH:MM:SS" form
 * without a zone: the script read it in the host's local time, this tool reads it as UTC.
 */
export function scriptDateFormWarning(value: SourcedValue | undefined): string | undefined {
  if (value === undefined || !SCRIPT_DATE_FORM.test(value.value.trim())) return undefined;
  const text = value.value.trim();
  return (
    `minimal-sighting-date "${text}" (set by ${value.source}) is read as UTC, ${text.replace(' ', 'T')}Z. ` +
    `PyMISP's falsepositive_disabletoids.py read it in the host's local time. To give the zone, append it, ` +
    `as in "${text}+02:00", or append Z to keep UTC and silence this warning.`
  );
}

/**
 * Collects the input values of the command-line entry from its four sources: options (and the
 * files named by --misp-key-file and the like), environment variables, the --config file and
 * PyMISP's keys.py. Reads the files; the parsing is in cli-options.ts.
 */
import { readFileSync, statSync } from 'node:fs';
import type { InputName } from './constants.ts';
import {
  type CommandLine,
  type InputValues,
  isSecretInput,
  mergeInputLayers,
  parseConfigText,
  parseKeysPy,
  readEnvironment,
  UsageError,
} from './cli-options.ts';

export interface CollectedInputs {
  /** Every input that some source set, with the winning value and its source. */
  inputs: InputValues;
  /** Problems worth fixing that do not stop the run, such as a key file other users can read. */
  warnings: string[];
}

export function collectInputs(commandLine: CommandLine, env: NodeJS.ProcessEnv): CollectedInputs {
  const warnings: string[] = [];

  const flags: InputValues = new Map(commandLine.inputs);
  for (const [input, file] of commandLine.secretFiles) {
    const text = readSettingsFile(file.value, file.source);
    // A trailing line break is what `echo KEY > file` leaves; no secret value ends in white space.
    flags.set(input, { value: text.trim(), source: `${file.source} ${file.value}` });
    warnIfOthersCanRead(file.value, input, warnings);
  }

  const environment = readEnvironment(env);
  warnings.push(...environment.warnings);

  const config = readSecretHoldingFile(commandLine.configFile, '--config', parseConfigText, warnings);
  const keys = readSecretHoldingFile(commandLine.keysFile, '--keys-file', parseKeysPy, warnings);

  return { inputs: mergeInputLayers([flags, environment.inputs, config, keys]), warnings };
}

function readSecretHoldingFile(
  file: string | undefined,
  option: string,
  parse: (text: string, file: string) => InputValues,
  warnings: string[],
): InputValues {
  if (file === undefined) return new Map();
  const values = parse(readSettingsFile(file, option), file);
  const secret = [...values.keys()].find((name) => isSecretInput(name) && values.get(name)!.value !== '');
  if (secret !== undefined) warnIfOthersCanRead(file, secret, warnings);
  return values;
}

function readSettingsFile(file: string, option: string): string {
  if (file === '') throw new UsageError(`${option} needs a file name.`);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${option} ${file} could not be read (${code}): check the path and that this user may read the file.`);
  }
}

/**
 * Warns when a file that contains a secret is readable or writable by its group or by others
 * (mode & 0o077). Windows has no such mode bits, so nothing is checked there.
 */
function warnIfOthersCanRead(file: string, input: InputName, warnings: string[]): void {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    // readSettingsFile already read the file, so a failing stat here is a race not worth a message.
    return;
  }
  if ((mode & 0o077) === 0) return;
  warnings.push(
    `${file} holds ${input} and other users may read or change it (mode ${(mode & 0o777).toString(8).padStart(3, '0')}): run chmod 600 ${file}.`,
  );
}

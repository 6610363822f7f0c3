import { INPUT_DEFAULTS, type InputName } from './constants.ts';

/** Invalid settings: one problem per input, each naming the input, the bad value and the fix. */
export class InputError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0] : `Invalid inputs:\n- ${problems.join('\n- ')}`);
    this.name = 'InputError';
    this.problems = problems;
  }
}

/** Returns the trimmed input, or its default when it is unset or blank. */
export function inputOrDefault(name: InputName, value: string | undefined): string {
  const trimmed = value?.trim() ?? '';
  return trimmed === '' ? INPUT_DEFAULTS[name] : trimmed;
}

/**
 * Returns a function that runs one parser and, when it throws, records the message in `problems`
 * and returns the fallback, so that one failed run lists every bad input instead of the first.
 */
export function problemCollector(problems: string[]): <T>(parse: () => T, fallback: T) => T {
  return (parse, fallback) => {
    try {
      return parse();
    } catch (error) {
      problems.push((error as Error).message);
      return fallback;
    }
  };
}

/**
 * PHP value semantics that MISP 2.5.1 applies to request parameters. MISP decodes JSON bodies into
 * PHP values and tests them with empty(), is_numeric() and loose comparisons, so the sandbox needs
 * the same rules to accept and reject the same requests.
 */

/** PHP empty(): true for null, false, 0, "0", "" and empty arrays or objects (JSON objects decode to PHP arrays). */
export function isPhpEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return true;
  if (value === 0 || value === '' || value === '0') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

const NUMERIC_STRING = /^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

/** PHP 8 is_numeric(): numbers, and strings that hold a decimal number (surrounding whitespace allowed). */
export function isPhpNumeric(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && NUMERIC_STRING.test(value);
}

/** Formats a value the way PHP string interpolation does, for error messages that quote a request value. */
export function phpString(value: unknown): string {
  if (value === true) return '1';
  if (value === false || value === null || value === undefined) return '';
  if (Array.isArray(value) || typeof value === 'object') return 'Array';
  return String(value);
}

/** Reads a PHP integer-like value (int, or numeric string) as a JS integer; returns undefined otherwise. */
export function toPhpInt(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (!isPhpNumeric(value)) return undefined;
  return Math.trunc(Number(value));
}

const DELTA_MULTIPLIERS: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };

/**
 * Resolves one time filter value to epoch seconds, as MISP 2.5.1 AppModel::resolveTimeDelta does:
 * a number (or numeric string) is an absolute epoch timestamp, "7d", "12h", "30m" and "60s" count
 * back from now, and other strings are parsed as dates. An unreadable value resolves to now + 1,
 * which matches nothing when used as a lower bound.
 */
export function resolveTimeDelta(delta: unknown, now: number): number {
  if (isPhpNumeric(delta)) return Math.trunc(Number(delta));
  if (typeof delta !== 'string') return now + 1;

  const lastChar = delta.slice(-1).toLowerCase();
  const multiplier = DELTA_MULTIPLIERS[lastChar];
  if (multiplier !== undefined) {
    const amount = delta.slice(0, -1);
    if (!isPhpNumeric(amount)) return now + 1;
    return now - Math.trunc(Number(amount) * multiplier);
  }

  const parsed = parseDateAsUtc(delta.trim());
  return parsed === undefined ? now + 1 : parsed;
}

/**
 * Parses a date or date-time string as PHP strtotime() does on a server whose time zone is UTC
 * (the captured MISP ran in UTC). A string without a zone is read as UTC.
 */
function parseDateAsUtc(text: string): number | undefined {
  if (text === '') return undefined;
  let iso = text;
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$/.test(iso)) iso = iso.replace(' ', 'T');
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(iso)) iso += 'Z';
  if (!/^\d{4}-\d{2}-\d{2}/.test(iso)) return undefined;
  const millis = Date.parse(iso);
  return Number.isNaN(millis) ? undefined : Math.floor(millis / 1000);
}

/**
 * Request parameter handling of MISP 2.5.1 restSearch endpoints: which keys are read, how URL
 * segments map to parameters, and how list filters with "!" negations are split.
 */
import type { RequestContext } from './http.ts';
import { phpString } from './php.ts';

type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// URL segments that AppController::_harvestParameters skips instead of reading as a parameter.
const IGNORED_URL_VALUES = new Set(['', 'null', '0', 'false']);

/**
 * Collects the parameters a restSearch endpoint reads, as AppController::_harvestParameters does:
 * keys of a POST body that are in `paramArray` (others are dropped silently), then URL segments
 * by position and CakePHP named parameters. Strings are trimmed and split on "||".
 */
export function harvestParameters(context: RequestContext, paramArray: readonly string[]): JsonObject {
  const names = [...paramArray];
  for (const extra of ['page', 'limit']) if (!names.includes(extra)) names.push(extra);

  const data: JsonObject = {};
  // MISP reads the body of POST requests only; a PUT body is ignored here.
  if (context.method === 'POST' && isObject(context.data)) {
    const source = isObject(context.data.request) ? context.data.request : context.data;
    for (const name of names) {
      if (source[name] !== undefined && source[name] !== null) data[name] = source[name];
    }
  }

  context.passed.forEach((segment, index) => {
    const name = names[index];
    if (name !== undefined && !IGNORED_URL_VALUES.has(segment.toLowerCase())) data[name] = segment.replaceAll(';', ':');
  });
  for (const name of names) {
    const value = context.named[name];
    if (value !== undefined) data[name] = value.replaceAll(';', ':');
  }

  for (const [name, value] of Object.entries(data)) {
    if (typeof value !== 'string') continue;
    const trimmed = value.trim();
    data[name] = trimmed.indexOf('||') > 0 ? trimmed.split('||') : trimmed;
  }
  return data;
}

/** A list filter split into values to match and values to exclude ("!value"). */
export interface ListFilter {
  include: string[];
  exclude: string[];
}

/**
 * Splits a filter value as AppModel::convert_filters does: a string may contain several values
 * joined by "&&", a list contains one value per element, and a leading "!" excludes a value.
 */
export function parseListFilter(value: unknown): ListFilter {
  const filter: ListFilter = { include: [], exclude: [] };
  const items = Array.isArray(value) ? value.map(phpString) : phpString(value).split('&&');
  for (const item of items) {
    if (item === '') continue;
    if (item.startsWith('!')) filter.exclude.push(item.slice(1));
    else filter.include.push(item);
  }
  return filter;
}

/**
 * Builds a matcher for one filter value as MySQL compares it in MISP's case-insensitive columns:
 * equal ignoring case, or a LIKE pattern when the value starts or ends with "%".
 */
export function valueMatcher(pattern: string): (candidate: string) => boolean {
  if (pattern.startsWith('%') || pattern.endsWith('%')) {
    const source = pattern
      .split('%')
      .map((piece) => piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replaceAll('_', '.'))
      .join('.*');
    const regex = new RegExp(`^${source}$`, 'is');
    return (candidate) => regex.test(candidate);
  }
  const lower = pattern.toLowerCase();
  return (candidate) => candidate.toLowerCase() === lower;
}

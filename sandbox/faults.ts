/**
 * Fault injection for the sandbox: make chosen requests fail the way servers, proxies and
 * networks fail, so tests can check what a client does then. A fault matches requests by method
 * and path. It can fail the request before MISP would handle it, or, with failAfterApply, after
 * the change was made, which is the case where the client cannot know whether it happened.
 */
import type { ServerResponse } from 'node:http';
import { AUTH_FAILED_MESSAGE, mispError } from './errors.ts';
import { encodeErrorJson, JSON_CONTENT_TYPE } from './http.ts';

/** The failure a fault causes. */
export type FaultKind =
  /** A 5xx reply. body: empty (default), an HTML error page as a proxy sends, or MISP's JSON error. */
  | { kind: 'status'; status: 500 | 502 | 503 | 504; body?: 'empty' | 'html' | 'json' }
  /** The reply comes `ms` milliseconds late. */
  | { kind: 'delay'; ms: number }
  /** The connection is closed without a reply. */
  | { kind: 'drop' }
  /** 429 with the wait in seconds in Retry-After (default) or in MISP's X-Rate-Limit-Reset. */
  | { kind: 'rate-limit'; retryAfter: number; header?: 'Retry-After' | 'X-Rate-Limit-Reset' }
  /** A login page instead of the API: 200 with HTML, or 302 to /users/login (default). */
  | { kind: 'login-page'; status?: 200 | 302 }
  /** 403 with MISP's "Authentication failed" JSON, as when the key is revoked mid-run. */
  | { kind: 'forbidden' };

export type FaultSpec = FaultKind & {
  /** HTTP method to match, any case; every method when absent. */
  method?: string;
  /** The URL path without the query string: equal to a string, or matching a RegExp. */
  path: string | RegExp;
  /** How many matching requests fail; default 1, Infinity for all of them. */
  times?: number;
  /** How many matching requests pass untouched before the first one fails; default 0. */
  after?: number;
  /**
   * Handle the request as usual (an edit or publish is stored), then fail the reply. Only for
   * the kinds status, drop and delay.
   */
  failAfterApply?: boolean;
};

/** A fault chosen for one request. */
export interface ActiveFault {
  spec: FaultSpec;
  /** Short text for RecordedCall.fault, such as "status 503 after apply". */
  description: string;
}

/** Recorded status of a request whose connection the sandbox closed without a reply (nginx's 444). */
export const DROPPED_STATUS = 444;
/** Recorded status of a delayed request whose client left before the delay ended (nginx's 499). */
export const CLIENT_GONE_STATUS = 499;

const AFTER_APPLY_KINDS = new Set(['status', 'drop', 'delay']);
const FAULT_STATUSES = new Set([500, 502, 503, 504]);

interface FaultState {
  spec: FaultSpec;
  times: number;
  after: number;
  seen: number;
  hits: number;
}

/** The faults of one sandbox, in the order added; the first one due for a request fires. */
export class FaultList {
  private readonly faults: FaultState[] = [];

  add(spec: FaultSpec): void {
    validateFault(spec);
    this.faults.push({ spec, times: spec.times ?? 1, after: spec.after ?? 0, seen: 0, hits: 0 });
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** Counts the request against every matching fault up to the one that fires, and returns that one. */
  take(method: string, path: string): ActiveFault | undefined {
    for (const fault of this.faults) {
      if (!matches(fault.spec, method, path)) continue;
      fault.seen++;
      if (fault.seen <= fault.after || fault.hits >= fault.times) continue;
      fault.hits++;
      return { spec: fault.spec, description: describeFault(fault.spec) };
    }
    return undefined;
  }
}

function matches(spec: FaultSpec, method: string, path: string): boolean {
  if (spec.method !== undefined && spec.method.toUpperCase() !== method.toUpperCase()) return false;
  return typeof spec.path === 'string' ? spec.path === path : spec.path.test(path);
}

function validateFault(spec: FaultSpec): void {
  if (typeof spec.path === 'string' && !spec.path.startsWith('/')) {
    throw new TypeError(`fault path must start with "/", such as /attributes/edit/12, got ${JSON.stringify(spec.path)}`);
  }
  if (spec.times !== undefined && !(spec.times === Infinity || (Number.isInteger(spec.times) && spec.times >= 1))) {
    throw new TypeError(`fault times must be a whole number from 1, or Infinity, got ${spec.times}`);
  }
  if (spec.after !== undefined && !(Number.isInteger(spec.after) && spec.after >= 0)) {
    throw new TypeError(`fault after must be a whole number from 0, got ${spec.after}`);
  }
  if (spec.failAfterApply && !AFTER_APPLY_KINDS.has(spec.kind)) {
    throw new TypeError(`failAfterApply works with the fault kinds status, drop and delay, not ${spec.kind}`);
  }
  switch (spec.kind) {
    case 'status':
      if (!FAULT_STATUSES.has(spec.status)) throw new TypeError(`fault status must be 500, 502, 503 or 504, got ${spec.status}`);
      return;
    case 'delay':
      if (!(Number.isFinite(spec.ms) && spec.ms >= 0)) throw new TypeError(`fault delay ms must be 0 or more, got ${spec.ms}`);
      return;
    case 'rate-limit':
      if (!(Number.isInteger(spec.retryAfter) && spec.retryAfter >= 0)) {
        throw new TypeError(`fault retryAfter must be whole seconds from 0, got ${spec.retryAfter}`);
      }
      return;
    case 'drop':
    case 'login-page':
    case 'forbidden':
      return;
    default:
      throw new TypeError(`unknown fault kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
}

function describeFault(spec: FaultSpec): string {
  const when = spec.failAfterApply ? ' after apply' : '';
  switch (spec.kind) {
    case 'status':
      return `status ${spec.status}${when}`;
    case 'delay':
      return `delay ${spec.ms} ms${when}`;
    case 'rate-limit':
      return `rate-limit ${spec.retryAfter} s`;
    case 'login-page':
      return `login-page ${spec.status ?? 302}`;
    default:
      return `${spec.kind}${when}`;
  }
}

/**
 * Waits `ms` milliseconds, or less when the client closes the connection first. Returns false
 * when the client is gone.
 */
export function waitUnlessClientGone(response: ServerResponse, ms: number): Promise<boolean> {
  if (response.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      response.off('close', onClose);
      resolve(!response.destroyed);
    }, ms);
    response.once('close', onClose);
  });
}

/**
 * Sends the failing reply of a status, drop, rate-limit, login-page or forbidden fault and
 * returns the status to record. A delay has no reply of its own, so the caller handles it.
 */
export function sendFaultReply(response: ServerResponse, spec: FaultSpec, baseUrl: string, path: string): number {
  switch (spec.kind) {
    case 'status':
      return sendStatus(response, spec.status, spec.body ?? 'empty', path);
    case 'drop':
      // Closing the socket without writing anything is what a crashed worker or a reset looks like.
      response.socket?.destroy();
      return DROPPED_STATUS;
    case 'rate-limit': {
      const header = spec.header ?? 'Retry-After';
      const text = encodeErrorJson(mispError(429, 'Rate limit exceeded.', path).body);
      response.writeHead(429, { 'Content-Type': JSON_CONTENT_TYPE, [header]: String(spec.retryAfter), 'Content-Length': String(Buffer.byteLength(text)) });
      response.end(text);
      return 429;
    }
    case 'login-page':
      return sendLoginPage(response, spec.status ?? 302, baseUrl);
    case 'forbidden': {
      const text = encodeErrorJson(mispError(403, AUTH_FAILED_MESSAGE, path).body);
      response.writeHead(403, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': String(Buffer.byteLength(text)) });
      response.end(text);
      return 403;
    }
    case 'delay':
      throw new Error('a delay fault has no reply of its own');
  }
}

const STATUS_TEXT: Record<number, string> = { 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

function sendStatus(response: ServerResponse, status: number, body: 'empty' | 'html' | 'json', path: string): number {
  if (body === 'json') {
    const text = encodeErrorJson(mispError(status, 'An Internal Error Has Occurred.', path).body);
    response.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': String(Buffer.byteLength(text)) });
    response.end(text);
  } else if (body === 'html') {
    // The page a reverse proxy such as nginx sends when MISP behind it fails.
    const title = `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
    const text = `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
    response.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': String(Buffer.byteLength(text)) });
    response.end(text);
  } else {
    response.writeHead(status, { 'Content-Length': '0' });
    response.end();
  }
  return status;
}

function sendLoginPage(response: ServerResponse, status: 200 | 302, baseUrl: string): number {
  if (status === 302) {
    response.writeHead(302, { Location: `${baseUrl}/users/login`, 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': '0' });
    response.end();
    return 302;
  }
  // A single sign-on proxy in front of MISP replies to every request with its own login form.
  const text = '<!DOCTYPE html>\n<html><head><title>Users - MISP</title></head><body><form action="/users/login" method="post"><input name="data[User][email]"><input type="password" name="data[User][password]"></form></body></html>\n';
  response.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': String(Buffer.byteLength(text)) });
  response.end(text);
  return 200;
}

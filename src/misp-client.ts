/**
 * HTTP client for the MISP endpoints the action uses, on undici. It sends the headers MISP
 * needs to return JSON, and turns every non-JSON or error reply into a MispApiError that names
 * the fix. The API key is replaced with *** wherever a reply quotes it.
 */
import { type Dispatcher, request } from 'undici';
import { buildDispatcher, type ConnectionSettings } from './http.ts';
import { JsonArrayStream } from './json-array-stream.ts';
import type { Logger } from './logger.ts';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type RetryReason,
  retryReasonForStatus,
  serverRequestedDelayMs,
} from './retry.ts';
import {
  type MispAttribute,
  type MispCurrentUser,
  type MispErrorBody,
  type MispEventIndexEntry,
  type MispSearchedSighting,
  type SightingSearch,
  toFlag,
} from './misp-types.ts';

export interface MispClientOptions {
  baseUrl: string;
  key: string;
  connection: ConnectionSettings;
  logger: Logger;
  userAgent: string;
  retry?: RetryPolicy;
  /** Waits between attempts; tests pass one that does not sleep. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** A failed MISP request. The message names the request and what to check, and never contains the key. */
export class MispApiError extends Error {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  /** MISP rejected the key (403 "Authentication failed"), as opposed to denying one action. */
  readonly authenticationFailed: boolean;

  constructor(message: string, details: { status: number; method: string; path: string; authenticationFailed?: boolean }) {
    super(message);
    this.name = 'MispApiError';
    this.status = details.status;
    this.method = details.method;
    this.path = details.path;
    this.authenticationFailed = details.authenticationFailed ?? false;
  }
}

/** The result of one attempt at a request: the parsed reply, or the error and whether to retry it. */
type AttemptOutcome = { kind: 'done'; value: unknown } | AttemptFailure;
type AttemptFailure = { kind: 'failed'; error: MispApiError; reason?: RetryReason; requestedDelayMs?: number };
/** The outcome of a streamed attempt, with the number of array elements it yielded. */
type StreamOutcome = { kind: 'done'; value: unknown; elements: number } | AttemptFailure;

/** Uuids per attribute lookup request, to keep each request body and reply small. */
const UUID_LOOKUP_BATCH = 200;

/**
 * Event ids per /events/index request. A batch is about 8 kB of request body, and the reply has
 * one index row per event, about 1 kB each in MISP 2.5.1's pretty-printed JSON (more with many
 * tags), so about 1 MB per request.
 */
const EVENT_INDEX_BATCH = 1000;

export class MispClient {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly dispatcher: Dispatcher;
  private readonly logger: Logger;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly sendsClientCertificate: boolean;
  /** Date header of the latest reply: the server's clock, which a sighting's date_sighting follows. */
  private lastReplyDate: string | undefined;

  constructor(options: MispClientOptions) {
    this.baseUrl = options.baseUrl;
    this.logger = options.logger;
    this.headers = {
      authorization: options.key,
      // Without Accept: application/json, MISP responds with a 302 to its login page even with a valid key.
      accept: 'application/json',
      'content-type': 'application/json',
      'user-agent': options.userAgent,
    };
    this.dispatcher = buildDispatcher(options.connection);
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.sendsClientCertificate = options.connection.clientCert !== '' && options.baseUrl.startsWith('https:');
  }

  /**
   * Sends one request, retrying network errors, timeouts, 429 and 5xx from proxies, and returns
   * the parsed JSON reply. Every request MISP receives from this client is safe to repeat:
   * searches, `to_ids: false` edits and publishes without e-mail.
   */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const retries = { waitedMs: 0 };
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(method, path, body);
      if (outcome.kind === 'done') return outcome.value as T;
      await this.waitBeforeRetry(method, path, attempt, outcome, retries);
    }
  }

  /**
   * Logs a failed attempt and waits before the next one. Throws the failure instead when it is
   * final, when it was the last attempt, or when the wait would pass the retry budget.
   */
  private async waitBeforeRetry(
    method: string,
    path: string,
    attempt: number,
    failure: AttemptFailure,
    retries: { waitedMs: number },
  ): Promise<void> {
    const { error, reason, requestedDelayMs } = failure;
    if (reason === undefined) throw error;
    const attempts = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
    if (attempt >= this.retry.maxAttempts) throw new MispApiError(`${withFullStop(error.message)} Gave up after ${attempts}.`, error);

    const delayMs = requestedDelayMs ?? backoffDelayMs(attempt, this.retry, this.random);
    if (retries.waitedMs + delayMs > this.retry.maxTotalWaitMs) {
      throw new MispApiError(
        `${withFullStop(error.message)} Gave up after ${attempts}: waiting ${Math.ceil(delayMs / 1000)} s more would pass the ${this.retry.maxTotalWaitMs / 1000} s retry budget.`,
        error,
      );
    }
    this.logger.warning(
      `${method} ${path}: ${reason}, attempt ${attempt} of ${this.retry.maxAttempts}; retrying in ${(delayMs / 1000).toFixed(1)} s.`,
    );
    await this.sleep(delayMs);
    retries.waitedMs += delayMs;
  }

  private async attempt(method: 'GET' | 'POST', path: string, body: unknown): Promise<AttemptOutcome> {
    const sent = await this.send(method, path, body);
    if (sent.kind === 'failed') return sent;
    return this.readWholeReply(method, path, sent.response);
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
  ): Promise<{ kind: 'sent'; response: Dispatcher.ResponseData } | AttemptFailure> {
    this.logger.debug(`MISP ${method} ${path}`);
    try {
      const response = await request(`${this.baseUrl}${path}`, {
        method,
        headers: this.headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.dispatcher,
      });
      this.lastReplyDate = response.headers.date?.toString();
      return { kind: 'sent', response };
    } catch (error) {
      return this.networkFailure(method, path, error);
    }
  }

  private networkFailure(method: string, path: string, error: unknown): AttemptFailure {
    const { message, reason } = describeNetworkError(error, this.baseUrl, this.sendsClientCertificate);
    return { kind: 'failed', error: this.withoutKey(new MispApiError(`${method} ${path} failed: ${message}`, { method, path, status: 0 })), reason };
  }

  private async readWholeReply(method: string, path: string, response: Dispatcher.ResponseData): Promise<AttemptOutcome> {
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      return this.networkFailure(method, path, error);
    }

    const status = response.statusCode;
    const contentType = String(response.headers['content-type'] ?? '');
    try {
      return { kind: 'done', value: this.parseReply(method, path, status, contentType, text, response.headers) };
    } catch (error) {
      const reason = retryReasonForStatus(status, isJson(text));
      const requestedDelayMs = reason ? serverRequestedDelayMs(response.headers, Date.now()) : undefined;
      return { kind: 'failed', error: this.withoutKey(error as MispApiError), reason, requestedDelayMs };
    }
  }

  /**
   * Sends one request and yields the elements of the array at `arrayPath` in its JSON reply as
   * they arrive, then returns the reply with that array empty. Only a 2xx JSON reply is read as
   * a stream; any other is read whole and judged as request() judges it. A failure part-way
   * returns a failed outcome after some elements were already yielded.
   */
  private async *streamArrayAttempt<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    arrayPath: readonly string[],
  ): AsyncGenerator<T, StreamOutcome> {
    const sent = await this.send(method, path, body);
    if (sent.kind === 'failed') return sent;
    const { response } = sent;
    const status = response.statusCode;
    const contentType = String(response.headers['content-type'] ?? '');
    if (status < 200 || status >= 300 || !/json/i.test(contentType)) {
      // Error replies are small. A 2xx JSON reply with another content type is read whole, as request() reads it.
      const outcome = await this.readWholeReply(method, path, response);
      if (outcome.kind === 'failed') return outcome;
      const elements = valueAt(outcome.value, arrayPath);
      if (!Array.isArray(elements)) return { ...outcome, elements: 0 };
      yield* elements as T[];
      return { ...outcome, elements: elements.length };
    }

    const stream = new JsonArrayStream(arrayPath);
    const chunks = response.body[Symbol.asyncIterator]();
    let finished = false;
    let count = 0;
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await chunks.next();
        } catch (error) {
          return this.networkFailure(method, path, error);
        }
        if (next.done) break;

        let elements: Uint8Array[];
        try {
          elements = stream.push(next.value);
        } catch {
          return { kind: 'failed', error: notJsonError(method, path, status, contentType) };
        }
        // Parsed one at a time, so that only one element is alive when the caller's code runs.
        for (const bytes of elements) {
          let element: T;
          try {
            element = stream.parseElement(bytes) as T;
          } catch {
            return { kind: 'failed', error: notJsonError(method, path, status, contentType) };
          }
          count++;
          yield element;
        }
      }
      finished = true;
    } finally {
      // A reply left part-read, because the caller stopped or the JSON was invalid, must not stay open.
      if (!finished) response.body.destroy();
    }

    try {
      return { kind: 'done', value: stream.end(), elements: count };
    } catch {
      return { kind: 'failed', error: notJsonError(method, path, status, contentType) };
    }
  }

  /**
   * Replaces the key in an error message. The captured MISP 2.5.1 error replies do not quote it,
   * but a proxy or a misconfigured server may put request headers into an error body.
   */
  private withoutKey(error: MispApiError): MispApiError {
    const key = this.headers.authorization ?? '';
    if (key !== '' && error.message.includes(key)) error.message = error.message.replaceAll(key, '***');
    return error;
  }

  private parseReply(
    method: string,
    path: string,
    status: number,
    contentType: string,
    text: string,
    headers: Record<string, string | string[] | undefined>,
  ): unknown {
    const details = { method, path, status };

    if (status >= 300 && status < 400) {
      const location = String(headers.location ?? '');
      throw new MispApiError(
        `${method} ${path}: MISP redirected to ${location || 'another page'} (HTTP ${status}) instead of responding. Check that misp-url is the MISP server itself and that the key belongs to a user allowed to use the API.`,
        details,
      );
    }

    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined && !(status >= 200 && status < 300 && text === '' && /json/i.test(contentType))) {
      throw notJsonError(method, path, status, contentType);
    }

    if (status < 200 || status >= 300) {
      const authenticationFailed = status === 403 && isAuthenticationFailure(parsed);
      throw new MispApiError(`${method} ${path} failed: HTTP ${status}: ${describeErrorBody(parsed, status)}`, { ...details, authenticationFailed });
    }
    return parsed;
  }

  async getVersion(): Promise<string> {
    const reply = await this.request<{ version?: string }>('GET', '/servers/getVersion');
    return typeof reply?.version === 'string' ? reply.version : 'unknown';
  }

  /**
   * Yields every attribute with to_ids set, with its sightings, one at a time as restSearch pages
   * arrive, so that no page is held whole. MISP's X-Result-Count is not a total when paginating,
   * so a short or empty page ends the scan. A page that fails part-way is requested again and
   * its attributes come again, so callers must skip ids they have already seen.
   */
  async *searchIdsAttributes(pageSize: number): AsyncGenerator<MispAttribute> {
    const path = '/attributes/restSearch';
    const arrayPath = ['response', 'Attribute'];
    for (let page = 1; ; page++) {
      const body = { returnFormat: 'json', to_ids: 1, includeSightings: 1, deleted: 0, limit: pageSize, page };
      const retries = { waitedMs: 0 };
      let count: number;
      for (let attempt = 1; ; attempt++) {
        const outcome = yield* this.streamArrayAttempt<MispAttribute>('POST', path, body, arrayPath);
        if (outcome.kind === 'done') {
          if (!Array.isArray(valueAt(outcome.value, arrayPath))) {
            throw new MispApiError(`POST ${path}: the reply has no response.Attribute list.`, { method: 'POST', path, status: 200 });
          }
          count = outcome.elements;
          break;
        }
        await this.waitBeforeRetry('POST', path, attempt, outcome, retries);
      }
      this.logger.debug(`Read page ${page}: ${count} attributes.`);
      if (count < pageSize) return;
    }
  }

  /**
   * Returns the MISP server's clock in epoch seconds, from the Date header of a getVersion reply,
   * or undefined when the reply has no valid Date header.
   */
  async getServerTime(): Promise<number | undefined> {
    await this.request('GET', '/servers/getVersion');
    const millis = Date.parse(this.lastReplyDate ?? '');
    return Number.isNaN(millis) ? undefined : Math.floor(millis / 1000);
  }

  /**
   * Returns the sightings that match the search, in one request: MISP 2.5.1 has no pagination on
   * /sightings/restSearch, so callers bound a reply with the time window. An empty attributeIds
   * list returns nothing without a request, because MISP reads an empty id list as no filter.
   */
  async searchSightings(search: SightingSearch): Promise<MispSearchedSighting[]> {
    if (search.attributeIds !== undefined && search.attributeIds.length === 0) return [];
    const body: Record<string, unknown> = { returnFormat: 'json', type: search.type, from: search.from, to: search.to };
    if (search.attributeIds !== undefined) {
      body.context = 'attribute';
      body.id = search.attributeIds;
    }
    if (search.includeAttribute) body.includeAttribute = 1;

    const reply = await this.request<{ response?: Array<{ Sighting?: MispSearchedSighting }> }>('POST', '/sightings/restSearch', body);
    const entries = reply?.response;
    if (!Array.isArray(entries)) {
      throw new MispApiError('POST /sightings/restSearch: the reply has no response list.', {
        method: 'POST',
        path: '/sightings/restSearch',
        status: 200,
      });
    }
    return entries.flatMap((entry) => (entry?.Sighting ? [entry.Sighting] : []));
  }

  async getCurrentUser(): Promise<MispCurrentUser> {
    return this.request<MispCurrentUser>('GET', '/users/view/me');
  }

  /**
   * Reads attributes by uuid as MISP stores them now, without sightings. Deleted attributes and
   * attributes the key cannot see are absent from the result.
   */
  async getAttributesByUuid(uuids: string[]): Promise<MispAttribute[]> {
    const attributes: MispAttribute[] = [];
    for (let start = 0; start < uuids.length; start += UUID_LOOKUP_BATCH) {
      const batch = uuids.slice(start, start + UUID_LOOKUP_BATCH);
      const reply = await this.request<{ response?: { Attribute?: MispAttribute[] } }>('POST', '/attributes/restSearch', {
        returnFormat: 'json',
        uuid: batch,
        deleted: 0,
        limit: batch.length,
        page: 1,
      });
      attributes.push(...(reply?.response?.Attribute ?? []));
    }
    return attributes;
  }

  /** Returns the index rows (with `published`) of the given events; events the key cannot see are absent. */
  async getEventIndex(eventIds: string[]): Promise<MispEventIndexEntry[]> {
    const entries: MispEventIndexEntry[] = [];
    for (let start = 0; start < eventIds.length; start += EVENT_INDEX_BATCH) {
      const batch = eventIds.slice(start, start + EVENT_INDEX_BATCH).map(Number);
      const reply = await this.request<MispEventIndexEntry[]>('POST', '/events/index', { eventid: batch });
      if (Array.isArray(reply)) entries.push(...reply);
    }
    return entries;
  }

  /**
   * Sets to_ids to false on one attribute and returns the attribute as MISP stored it. The body
   * has no timestamp: MISP rejects an edit whose timestamp is not newer than the stored one.
   */
  async demoteAttribute(attributeId: string): Promise<MispAttribute> {
    const path = `/attributes/edit/${attributeId}`;
    const reply = await this.request<{ Attribute?: MispAttribute }>('POST', path, { to_ids: false });
    const attribute = reply?.Attribute;
    if (!attribute || toFlag(attribute.to_ids)) {
      throw new MispApiError(`POST ${path}: MISP accepted the edit, but its response does not show to_ids false.`, {
        method: 'POST',
        path,
        status: 200,
      });
    }
    return attribute;
  }

  /** Publishes an event without e-mail. /events/alert, which e-mails every subscriber, is never used. */
  async publishEvent(eventId: string): Promise<void> {
    await this.request('POST', `/events/publish/${eventId}`);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function notJsonError(method: string, path: string, status: number, contentType: string): MispApiError {
  const details = { method, path, status };
  const received = `${method} ${path}: the server responded with HTTP ${status} and ${contentType || 'no content type'} instead of JSON.`;
  if (status === 429) return new MispApiError(`${received} MISP or a proxy in front of it limits the request rate.`, details);
  if (status >= 500) return new MispApiError(`${received} MISP or a proxy in front of it may be overloaded, restarting or down.`, details);
  return new MispApiError(`${received} Check that misp-url points at MISP, not at a login page or a proxy.`, details);
}

/** Returns the value at a chain of object keys in a parsed reply, or undefined where the chain breaks. */
function valueAt(value: unknown, keys: readonly string[]): unknown {
  let found = value;
  for (const key of keys) found = found !== null && typeof found === 'object' ? (found as Record<string, unknown>)[key] : undefined;
  return found;
}

function describeErrorBody(body: unknown, status: number): string {
  const error = (body ?? {}) as MispErrorBody;
  const parts = [error.message || error.name || 'no message'];
  if (error.errors && typeof error.errors === 'object') {
    for (const [field, messages] of Object.entries(error.errors)) {
      parts.push(`${field}: ${Array.isArray(messages) ? messages.join('; ') : String(messages)}`);
    }
  }
  if (status === 403 && isAuthenticationFailure(body)) {
    parts.push('check misp-key: MISP did not accept it (wrong, disabled or expired key, or a user without API access)');
  }
  return parts.join('; ');
}

/** Returns whether the body is MISP 2.5.1's 403 for a wrong, disabled or expired key, "Authentication failed. ...". */
function isAuthenticationFailure(body: unknown): boolean {
  const error = (body ?? {}) as MispErrorBody;
  return /authentication failed/i.test(error.message || error.name || '');
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return text !== '';
  } catch {
    return false;
  }
}

const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function withFullStop(message: string): string {
  return /[.!?]$/.test(message.trim()) ? message.trim() : `${message.trim()}.`;
}

/** Turns an undici or socket error into a message naming the fix, and a retry reason when retrying can help. */
function describeNetworkError(error: unknown, baseUrl: string, sendsClientCertificate: boolean): { message: string; reason?: RetryReason } {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = (error as { code?: string })?.code ?? cause?.code ?? '';
  const text = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // Node's error carries the host and the peer certificate, whose subjectaltname lists its names.
    const mismatch = (cause?.code === code ? cause : error) as { host?: string; cert?: { subjectaltname?: string } };
    const host = mismatch.host ?? new URL(baseUrl).hostname;
    const names = mismatch.cert?.subjectaltname || 'no subject alternative names';
    return {
      message: `the TLS certificate of ${baseUrl} is not valid for the host name ${host}: it lists ${names}. Set misp-url to a host name the certificate lists, or have the certificate reissued for ${host}.`,
    };
  }
  if (TLS_VERIFY_CODES.has(code) || TLS_VERIFY_CODES.has(cause?.code ?? '')) {
    return {
      message: `the TLS certificate of ${baseUrl} could not be verified (${code}): set misp-ca-cert to the CA that signed it, or, for a test server only, misp-verify-tls: false.`,
    };
  }
  if (/certificate required|alert.*(handshake|certificate)|tlsv13 alert/i.test(`${text} ${cause?.message ?? ''}`)) {
    // OpenSSL's message carries its source file and line; the alert name is the useful part.
    const alert = /(?:tlsv1\d?|sslv3) alert [a-z ]+/i.exec(`${text} ${cause?.message ?? ''}`)?.[0] ?? text.trim();
    return {
      message: `the TLS handshake with ${baseUrl} failed (${alert}): if the server requires a client certificate, set misp-client-cert and misp-client-key.`,
    };
  }
  // A TLS 1.3 server that rejects the client certificate may close the connection after the
  // handshake without an alert, so the client sees only the close.
  if (code === 'UND_ERR_SOCKET' && sendsClientCertificate) {
    return {
      message: `${text} (${code}): if the server rejected the client certificate, check that misp-client-cert and misp-client-key are a pair signed by a CA the server trusts.`,
      reason: 'network error',
    };
  }
  // OpenSSL reads a plain-HTTP reply as a TLS record of an unknown version.
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(`${text} ${cause?.message ?? ''}`)) {
    return {
      message: `${baseUrl} does not speak TLS on that port (the reply was not a TLS handshake): if the server serves plain HTTP, write misp-url with http://, or use the port of its HTTPS listener.`,
    };
  }
  const plainHttpToTls = code === 'UND_ERR_SOCKET' && baseUrl.startsWith('http:');
  switch (code) {
    case 'UND_ERR_SOCKET':
      return {
        message: plainHttpToTls
          ? `${text} (${code}): the server closed the connection; if it serves HTTPS on that port, write misp-url with https://.`
          : `${text} (${code})`,
        reason: 'network error',
      };
    case 'ECONNREFUSED':
      return { message: `connection to ${baseUrl} refused: check misp-url and that MISP is running.`, reason: 'network error' };
    case 'ENOTFOUND':
      return { message: `the host name of ${baseUrl} could not be resolved (DNS): check misp-url.` };
    case 'EAI_AGAIN':
      return { message: `the host name of ${baseUrl} could not be resolved for now (DNS): check misp-url and the runner's DNS.`, reason: 'network error' };
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { message: `timed out waiting for ${baseUrl}: raise timeout-seconds if MISP is slow.`, reason: 'timeout' };
    default:
      return { message: code ? `${text} (${code})` : text, reason: 'network error' };
  }
}

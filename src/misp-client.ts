/**
 * HTTP client for the MISP endpoints the action uses, on undici. It sends the headers MISP
 * needs to answer with JSON, turns every non-JSON or error reply into a MispApiError that says
 * what to fix, and never puts the API key in a message.
 */
import { Agent, type Dispatcher, request } from 'undici';
import type { Logger } from './logger.ts';
import { type MispAttribute, type MispErrorBody, type MispEventIndexEntry, toFlag } from './misp-types.ts';

export interface MispClientOptions {
  baseUrl: string;
  key: string;
  verifyTls: boolean;
  logger: Logger;
  userAgent: string;
  /** A dispatcher to use instead of the default keep-alive agent (tests, proxies). */
  dispatcher?: Dispatcher;
}

/** A failed MISP request. The message names the request and what to check; it never holds the key. */
export class MispApiError extends Error {
  readonly status: number;
  readonly method: string;
  readonly path: string;

  constructor(message: string, details: { status: number; method: string; path: string }) {
    super(message);
    this.name = 'MispApiError';
    this.status = details.status;
    this.method = details.method;
    this.path = details.path;
  }
}

/** Event ids per /events/index request, to keep the request body and reply small. */
const EVENT_INDEX_BATCH = 200;

export class MispClient {
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly dispatcher: Dispatcher;
  private readonly logger: Logger;

  constructor(options: MispClientOptions) {
    this.baseUrl = options.baseUrl;
    this.logger = options.logger;
    this.headers = {
      authorization: options.key,
      // Without Accept: application/json, MISP answers 302 to its login page even with a valid key.
      accept: 'application/json',
      'content-type': 'application/json',
      'user-agent': options.userAgent,
    };
    this.dispatcher =
      options.dispatcher ?? new Agent({ connect: { rejectUnauthorized: options.verifyTls }, keepAliveTimeout: 10_000 });
  }

  /** Sends one request and returns the parsed JSON reply. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const where = { method, path, status: 0 };
    this.logger.debug(`MISP ${method} ${path}`);

    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.baseUrl}${path}`, {
        method,
        headers: this.headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.dispatcher,
      });
    } catch (error) {
      throw new MispApiError(`${method} ${path} failed: ${describeNetworkError(error, this.baseUrl)}`, where);
    }

    const status = response.statusCode;
    const text = await response.body.text();
    const contentType = String(response.headers['content-type'] ?? '');
    const details = { ...where, status };

    if (status >= 300 && status < 400) {
      const location = String(response.headers.location ?? '');
      throw new MispApiError(
        `${method} ${path}: MISP redirected to ${location || 'another page'} (HTTP ${status}) instead of answering. Check that misp-url is the MISP server itself and that the key belongs to a user allowed to use the API.`,
        details,
      );
    }

    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined && !/json/i.test(contentType)) {
      throw new MispApiError(
        `${method} ${path}: the server answered HTTP ${status} with ${contentType || 'no content type'} instead of JSON. Check that misp-url points at MISP, not at a login page or a proxy.`,
        details,
      );
    }

    if (status < 200 || status >= 300) {
      throw new MispApiError(`${method} ${path} failed: HTTP ${status}: ${describeErrorBody(parsed, status)}`, details);
    }
    return parsed as T;
  }

  async getVersion(): Promise<string> {
    const reply = await this.request<{ version?: string }>('GET', '/servers/getVersion');
    return typeof reply?.version === 'string' ? reply.version : 'unknown';
  }

  /**
   * Yields every attribute with to_ids set, with its sightings, one restSearch page at a time.
   * MISP's X-Result-Count is not a total when paginating, so a short or empty page ends the scan.
   */
  async *searchIdsAttributes(pageSize: number): AsyncGenerator<MispAttribute[]> {
    for (let page = 1; ; page++) {
      const reply = await this.request<{ response?: { Attribute?: MispAttribute[] } }>('POST', '/attributes/restSearch', {
        returnFormat: 'json',
        to_ids: 1,
        includeSightings: 1,
        deleted: 0,
        limit: pageSize,
        page,
      });
      const attributes = reply?.response?.Attribute;
      if (!Array.isArray(attributes)) {
        throw new MispApiError('POST /attributes/restSearch: the reply has no response.Attribute list.', {
          method: 'POST',
          path: '/attributes/restSearch',
          status: 200,
        });
      }
      if (attributes.length > 0) yield attributes;
      if (attributes.length < pageSize) return;
    }
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
      throw new MispApiError(`POST ${path}: MISP answered, but its reply does not show to_ids false.`, {
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

function describeErrorBody(body: unknown, status: number): string {
  const error = (body ?? {}) as MispErrorBody;
  const parts = [error.message || error.name || 'no message'];
  if (error.errors && typeof error.errors === 'object') {
    for (const [field, messages] of Object.entries(error.errors)) {
      parts.push(`${field}: ${Array.isArray(messages) ? messages.join('; ') : String(messages)}`);
    }
  }
  if (status === 403 && /authentication failed/i.test(parts[0] ?? '')) {
    parts.push('check misp-key: MISP did not accept it (wrong, disabled or expired key, or a user without API access)');
  }
  return parts.join('; ');
}

function describeNetworkError(error: unknown, baseUrl: string): string {
  const code = (error as { code?: string; cause?: { code?: string } })?.code ?? (error as { cause?: { code?: string } })?.cause?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ECONNREFUSED':
      return `connection to ${baseUrl} refused: check misp-url and that MISP is running.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name of ${baseUrl} could not be resolved: check misp-url.`;
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `timed out waiting for ${baseUrl}.`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS certificate of ${baseUrl} could not be verified (${code}): use a certificate the runner trusts, or set misp-verify-tls: false for a test server only.`;
    default:
      return code ? `${message} (${code})` : message;
  }
}

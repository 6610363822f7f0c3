/**
 * MISP sandbox: an HTTP server that responds like MISP 2.5.1 on the endpoints misp-fp-demote uses,
 * from an in-memory dataset. It records every call so tests can check what a client did, and it
 * listens on loopback only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { loadDataset } from './dataset.ts';
import { AUTH_FAILED_MESSAGE, MispHttpError, internalError, mispError } from './errors.ts';
import { CLIENT_GONE_STATUS, FaultList, type FaultSpec, sendFaultReply, waitUnlessClientGone } from './faults.ts';
import { attachedSightings, attributeFields } from './format.ts';
import { attributesEdit, attributesRestSearch } from './handlers/attributes.ts';
import { eventsAlert, eventsIndex, eventsPublish, eventsRestSearch, eventsView } from './handlers/events.ts';
import { sightingsRestSearch } from './handlers/sightings.ts';
import {
  ChunkWriter,
  ClientGoneError,
  encodeErrorJson,
  encodeJson,
  JSON_CONTENT_TYPE,
  jsonReply,
  type Reply,
  type RequestContext,
} from './http.ts';
import type { Store } from './store.ts';
import { createUser, hasPermission, isSiteAdmin, type SandboxUser, type SandboxUserOptions, userReply, versionReply } from './user.ts';

/** The API key the sandbox accepts when the key option is not set: 40 characters [a-zA-Z0-9], like a MISP key. */
export const SANDBOX_DEFAULT_KEY = 'SandboxKeyForMispFpDemote000000000000000';

export interface SandboxOptions {
  /**
   * A dataset file path, or already-parsed JSON: a list of {"Event": {...}} or a /events/restSearch
   * reply {"response": [{"Event": ...}]}. Without one the sandbox starts empty.
   */
  dataset?: string | unknown;
  /** Accepted API key; default SANDBOX_DEFAULT_KEY. */
  key?: string;
  /** Loopback address to listen on; default 127.0.0.1. */
  host?: string;
  /** Port; default 0, a free port. */
  port?: number;
  /** Clock in epoch seconds, for the 30-day sightings window and new timestamps; default the system clock. */
  now?: () => number;
  /** The key's user: a site admin unless role permissions are overridden. */
  user?: SandboxUserOptions;
  /**
   * A store filled beforehand, such as by buildSyntheticStore in sandbox/synthetic.ts, for
   * instances too large to pass as a dataset; `dataset` is then ignored.
   */
  store?: Store;
  /** Faults active from the start; Sandbox.injectFault adds more. */
  faults?: FaultSpec[];
  /** Serve HTTPS with this PEM key and certificate instead of plain HTTP. */
  tls?: SandboxTlsOptions;
}

export interface SandboxTlsOptions {
  key: string;
  cert: string;
  /** PEM CA certificate that client certificates must be signed by; required with requestClientCert. */
  ca?: string;
  /** Reject every connection without a client certificate signed by `ca` (mutual TLS). */
  requestClientCert?: boolean;
}

export interface RecordedCall {
  method: string;
  /** Request target as sent, with any query string. */
  path: string;
  /** Parsed JSON body, the raw text when it was not JSON, or null when empty. */
  body: unknown;
  /**
   * HTTP status of the reply; 0 while the request is in progress. A dropped connection records
   * 444 and a delayed request whose client left records 499, as nginx logs them.
   */
  status: number;
  /** Date.now() when the request arrived, in milliseconds. */
  receivedAt: number;
  /** The injected fault that hit this request, such as "status 503" or "drop after apply". */
  fault?: string;
}

export interface Sandbox {
  /** Base URL such as http://127.0.0.1:40123, without a trailing slash. */
  url: string;
  key: string;
  /** Every request, in the order received. */
  calls: RecordedCall[];
  /** Event ids passed to /events/publish, in order. */
  publishes: string[];
  /** Event ids passed to /events/alert, in order. */
  alerts: string[];
  /** Current stored attribute in MISP JSON form, with its Sighting list; deleted attributes included. */
  getAttribute(id: string | number): Record<string, unknown> | undefined;
  /** Current event fields in MISP JSON form (published flag, timestamps), without attributes. */
  getEvent(id: string | number): Record<string, unknown> | undefined;
  /** Makes matching requests fail from now on; see sandbox/faults.ts for the kinds. */
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  close(): Promise<void>;
}

/** Request bodies larger than this are refused with 413. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

// IndexFilterComponent::AUTOMATION_ARRAY of MISP 2.5.1: actions served as API calls whatever the Accept header contains.
const AUTOMATION_ACTIONS: Record<string, readonly string[]> = {
  events: ['csv', 'nids', 'hids', 'xml', 'restSearch', 'stix', 'updateGraph', 'downloadOpenIOCEvent'],
  attributes: ['text', 'downloadAttachment', 'returnAttributes', 'restSearch', 'rpz', 'bro'],
  objects: ['restSearch'],
};

interface Route {
  handle(context: RequestContext): Reply | Promise<Reply>;
  /** Role permission that MISP's ACL component requires for the action (site admins pass). */
  permission?: string;
}

const ROUTES: Record<string, Route> = {
  'servers/getVersion': { handle: (context) => jsonReply(versionReply(context.user)) },
  'users/view': { handle: usersView },
  'attributes/restSearch': { handle: attributesRestSearch },
  'attributes/edit': { handle: attributesEdit, permission: 'perm_add' },
  'sightings/restSearch': { handle: sightingsRestSearch },
  'events/view': { handle: eventsView },
  'events/publish': { handle: eventsPublish, permission: 'perm_publish' },
  'events/alert': { handle: eventsAlert, permission: 'perm_publish' },
  'events/index': { handle: eventsIndex },
  'events/restSearch': { handle: eventsRestSearch },
};

function usersView(context: RequestContext): Reply {
  const ref = context.passed[0];
  if (ref !== 'me' && ref !== String(context.user.id)) throw mispError(404, 'Invalid user', context.path);
  return jsonReply(userReply(context.user, context.store));
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const host = options.host ?? '127.0.0.1';
  assertLoopback(host);
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`port must be a whole number from 0 to 65535 (0 picks a free port), got ${port}`);
  }
  const key = options.key ?? SANDBOX_DEFAULT_KEY;
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');

  const clock = options.now ?? (() => Date.now() / 1000);
  const now = () => Math.floor(clock());
  const user = createUser(options.user);
  const store = options.store ?? loadDataset(options.dataset ?? [], now());

  const faults = new FaultList();
  for (const fault of options.faults ?? []) faults.add(fault);

  const state: ServerState = { store, user, key, now, baseUrl: '', calls: [], publishes: [], alerts: [], faults };
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    void handleRequest(state, request, response);
  };
  const server = options.tls ? createHttpsServer(httpsOptions(options.tls), handler) : createServer(handler);
  await listen(server, host, port);
  state.baseUrl = baseUrlOf(server, options.tls ? 'https' : 'http');

  return {
    url: state.baseUrl,
    key,
    calls: state.calls,
    publishes: state.publishes,
    alerts: state.alerts,
    getAttribute(id) {
      const attribute = store.findAttribute(String(id));
      if (!attribute) return undefined;
      return { ...attributeFields(attribute), Sighting: attachedSightings(store, attribute) };
    },
    getEvent(id) {
      const event = store.findEvent(String(id));
      return event ? { ...event.fields } : undefined;
    },
    injectFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    close: () => closeServer(server),
  };
}

interface ServerState {
  store: Store;
  user: SandboxUser;
  key: string;
  now: () => number;
  baseUrl: string;
  calls: RecordedCall[];
  publishes: string[];
  alerts: string[];
  faults: FaultList;
}

function httpsOptions(tls: SandboxTlsOptions) {
  if (tls.requestClientCert && !tls.ca) throw new TypeError('tls.requestClientCert needs tls.ca, the CA that signs client certificates');
  return {
    key: tls.key,
    cert: tls.cert,
    ...(tls.ca ? { ca: tls.ca } : {}),
    // With both set, Node's TLS server rejects a client that presents no certificate signed by `ca`.
    requestCert: tls.requestClientCert ?? false,
    rejectUnauthorized: tls.requestClientCert ?? false,
  };
}

async function handleRequest(state: ServerState, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const method = request.method ?? 'GET';
  const target = request.url ?? '/';
  const call: RecordedCall = { method, path: target, body: null, status: 0, receivedAt: Date.now() };
  // The Date header follows the sandbox clock, as a MISP server's follows its own; Node then sends no other.
  response.setHeader('Date', new Date(state.now() * 1000).toUTCString());

  let raw: Buffer;
  try {
    raw = await readBody(request);
  } catch (error) {
    state.calls.push(call);
    call.status = error instanceof BodyTooLargeError ? 413 : 400;
    sendError(response, mispError(call.status, (error as Error).message, pathOf(target)));
    return;
  }
  state.calls.push(call);

  let body: Buffer | Error;
  try {
    body = decodeBody(raw, request.headers['content-encoding']);
    call.body = recordedBody(body);
  } catch (error) {
    body = error as Error;
    call.body = raw.length === 0 ? null : raw.toString('latin1');
  }

  const fault = state.faults.take(method, pathOf(target));
  if (fault) {
    call.fault = fault.description;
    if (!fault.spec.failAfterApply && fault.spec.kind !== 'delay') {
      call.status = sendFaultReply(response, fault.spec, state.baseUrl, pathOf(target));
      return;
    }
    // A request still waiting when its client gives up is never handled.
    if (!fault.spec.failAfterApply && fault.spec.kind === 'delay' && !(await waitUnlessClientGone(response, fault.spec.ms))) {
      call.status = CLIENT_GONE_STATUS;
      return;
    }
  }

  try {
    const reply = await route(state, request, target, body);
    // The change is stored by now; an error reply from route goes out unchanged.
    if (fault?.spec.failAfterApply && fault.spec.kind !== 'delay') {
      call.status = sendFaultReply(response, fault.spec, state.baseUrl, pathOf(target));
      return;
    }
    if (fault?.spec.failAfterApply && fault.spec.kind === 'delay' && !(await waitUnlessClientGone(response, fault.spec.ms))) {
      call.status = CLIENT_GONE_STATUS;
      return;
    }
    call.status = reply === 'redirect' ? 302 : reply.status;
    if (reply === 'redirect') sendLoginRedirect(response, state.baseUrl);
    else await sendReply(response, reply);
  } catch (error) {
    if (error instanceof ClientGoneError) {
      console.error(`MISP sandbox: the client closed the connection during ${method} ${target}; the reply was cut off.`);
      call.status = call.status || 499;
      return;
    }
    const failure = error instanceof MispHttpError ? error : internalError(pathOf(target));
    if (!(error instanceof MispHttpError)) {
      console.error(`MISP sandbox: ${method} ${target} failed:`, error);
    }
    call.status = failure.status;
    if (response.headersSent) response.destroy();
    else sendError(response, failure);
  }
}

/** Runs MISP's checks in its order: API request or login redirect, then key, then role, then body, then the action. */
async function route(state: ServerState, request: IncomingMessage, target: string, body: Buffer | Error): Promise<Reply | 'redirect'> {
  const path = pathOf(target);
  const parsed = parsePath(path);
  const accept = String(request.headers.accept ?? '');
  const automation = AUTOMATION_ACTIONS[parsed.controller]?.includes(parsed.action) ?? false;
  // MISP 2.5.1 treats a request as an API call when the action is an automation action, the URL
  // ends in .json, or Accept asks for JSON, XML or CSV; anything else is a browser, sent to login.
  const apiRequest = automation || parsed.jsonExtension || /application\/json|application\/xml|text\/xml|text\/csv/i.test(accept);
  if (!apiRequest) return 'redirect';

  if (request.headers.authorization !== state.key) throw mispError(403, AUTH_FAILED_MESSAGE, path);

  const routeEntry = ROUTES[`${parsed.controller}/${parsed.action}`];
  if (!routeEntry) throw mispError(404, 'Not Found', path);
  if (routeEntry.permission && !isSiteAdmin(state.user) && !hasPermission(state.user, routeEntry.permission)) {
    throw mispError(403, 'You do not have permission to use this functionality.', path);
  }
  if (body instanceof Error) throw mispError(400, `The request body could not be decompressed: ${body.message}`, path);

  const context: RequestContext = {
    method: request.method ?? 'GET',
    path,
    controller: parsed.controller,
    action: parsed.action,
    passed: parsed.passed,
    named: parsed.named,
    headers: request.headers,
    data: parseJsonBody(body, String(request.headers['content-type'] ?? ''), path),
    now: state.now(),
    store: state.store,
    user: state.user,
    baseUrl: state.baseUrl,
    publishes: state.publishes,
    alerts: state.alerts,
  };
  return routeEntry.handle(context);
}

interface ParsedPath {
  controller: string;
  action: string;
  passed: string[];
  named: Record<string, string>;
  jsonExtension: boolean;
}

/** Splits a CakePHP URL: /controller/action/passed.../name:value... with an optional .json extension. */
function parsePath(path: string): ParsedPath {
  const segments = path
    .split('/')
    .filter((segment) => segment !== '')
    .map(decodeSegment);
  let jsonExtension = false;
  const last = segments.length - 1;
  if (last >= 0 && segments[last]?.endsWith('.json')) {
    segments[last] = (segments[last] ?? '').slice(0, -'.json'.length);
    jsonExtension = true;
  }

  const passed: string[] = [];
  const named: Record<string, string> = {};
  for (const segment of segments.slice(2)) {
    const colon = segment.indexOf(':');
    if (colon > 0) named[segment.slice(0, colon)] = segment.slice(colon + 1);
    else passed.push(segment);
  }
  return { controller: segments[0] ?? '', action: segments[1] ?? 'index', passed, named, jsonExtension };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

/**
 * Parses the body as CakePHP does for MISP: only when Content-Type says JSON. MISP rejects a
 * malformed JSON body with 405 instead of ignoring it.
 */
function parseJsonBody(body: Buffer, contentType: string, path: string): unknown {
  if (body.length === 0 || !/application\/json/i.test(contentType)) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw mispError(
      405,
      'Invalid JSON input. Make sure that the JSON input is a correctly formatted JSON string. This request has been blocked to avoid an unfiltered request.',
      path,
    );
  }
}

/** MISP 2.5.1 accepts gzip-compressed request bodies (its getVersion reply lists request_encoding gzip). */
function decodeBody(raw: Buffer, contentEncoding: string | undefined): Buffer {
  if (contentEncoding === undefined || contentEncoding === '' || contentEncoding === 'identity') return raw;
  if (contentEncoding.toLowerCase() === 'gzip') return gunzipSync(raw);
  throw new Error(`unsupported Content-Encoding ${contentEncoding}`);
}

function recordedBody(body: Buffer): unknown {
  if (body.length === 0) return null;
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

class BodyTooLargeError extends Error {
  constructor() {
    super(`Request body larger than ${MAX_BODY_BYTES} bytes.`);
    this.name = 'BodyTooLargeError';
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function sendReply(response: ServerResponse, reply: Reply): Promise<void> {
  if (reply.kind === 'json') {
    const text = encodeJson(reply.body, reply.pretty);
    response.writeHead(reply.status, {
      'Content-Type': JSON_CONTENT_TYPE,
      ...reply.headers,
      'Content-Length': String(Buffer.byteLength(text)),
    });
    response.end(text);
    return;
  }
  const writer = new ChunkWriter(response, reply.status, { 'Content-Type': JSON_CONTENT_TYPE, ...reply.headers });
  await reply.write(writer);
  await writer.end();
}

function sendError(response: ServerResponse, error: MispHttpError): void {
  const text = error.pretty ? encodeJson(error.body, true) : encodeErrorJson(error.body);
  response.writeHead(error.status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': String(Buffer.byteLength(text)) });
  response.end(text);
}

/** What MISP sends to a request it does not treat as an API call: a redirect to its login page. */
function sendLoginRedirect(response: ServerResponse, baseUrl: string): void {
  response.writeHead(302, {
    Location: `${baseUrl}/users/login`,
    'Content-Type': 'text/html; charset=UTF-8',
    'Content-Length': '0',
  });
  response.end();
}

function assertLoopback(host: string): void {
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) {
    throw new RangeError(`the MISP sandbox listens on loopback only (127.0.0.1, ::1 or localhost), got host ${JSON.stringify(host)}`);
  }
}

function listen(server: Server | HttpsServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function baseUrlOf(server: Server | HttpsServer, scheme: 'http' | 'https'): string {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the sandbox server has no TCP address');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

/**
 * Request context, reply types and the response writer shared by the sandbox endpoints.
 * Small replies go out in one piece with Content-Length, as MISP sends them. Large ones stream
 * in chunks, so a page of a million-attribute dataset is never one giant string.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Store } from './store.ts';
import type { SandboxUser } from './user.ts';

export interface RequestContext {
  method: string;
  /** URL path without the query string, such as /attributes/edit/12. */
  path: string;
  controller: string;
  action: string;
  /** Path segments after controller and action that are not named parameters. */
  passed: string[];
  /** Named parameters given as `name:value` path segments (CakePHP style). */
  named: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; undefined when the request had none or MISP would not read it. */
  data: unknown;
  now: number;
  store: Store;
  user: SandboxUser;
  /** Base URL of the sandbox, without a trailing slash. */
  baseUrl: string;
  publishes: string[];
  alerts: string[];
}

export interface JsonReply {
  kind: 'json';
  status: number;
  body: unknown;
  /** MISP pretty-prints replies built by its RestResponse component (4-space indent). */
  pretty: boolean;
  headers?: Record<string, string>;
}

export interface StreamReply {
  kind: 'stream';
  status: number;
  headers?: Record<string, string>;
  write(out: ChunkWriter): Promise<void>;
}

export type Reply = JsonReply | StreamReply;

export const JSON_CONTENT_TYPE = 'application/json; charset=UTF-8';

export function jsonReply(body: unknown, options: { status?: number; pretty?: boolean; headers?: Record<string, string> } = {}): JsonReply {
  return { kind: 'json', status: options.status ?? 200, body, pretty: options.pretty ?? true, headers: options.headers };
}

/** JSON text as MISP writes it: pretty replies with 4 spaces, compact ones without spaces. */
export function encodeJson(body: unknown, pretty: boolean): string {
  return pretty ? JSON.stringify(body, null, 4) : JSON.stringify(body);
}

/** Compact JSON with slashes escaped, as PHP's json_encode writes MISP's error replies. */
export function encodeErrorJson(body: unknown): string {
  return JSON.stringify(body).replaceAll('/', '\\/');
}

/** Reply bytes buffered before the writer switches from one Content-Length reply to streaming. */
const FLUSH_THRESHOLD = 256 * 1024;

/** The client closed the connection while a reply was being written. */
export class ClientGoneError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** Buffers reply text and, past FLUSH_THRESHOLD, streams it with backpressure. */
export class ChunkWriter {
  private readonly response: ServerResponse;
  private readonly status: number;
  private readonly headers: Record<string, string>;
  private parts: string[] = [];
  private bufferedLength = 0;
  private streaming = false;

  constructor(response: ServerResponse, status: number, headers: Record<string, string>) {
    this.response = response;
    this.status = status;
    this.headers = headers;
  }

  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.bufferedLength += text.length;
    if (this.bufferedLength >= FLUSH_THRESHOLD) await this.flush();
  }

  async end(): Promise<void> {
    if (!this.streaming) {
      const body = this.parts.join('');
      this.response.writeHead(this.status, { ...this.headers, 'Content-Length': String(Buffer.byteLength(body)) });
      this.response.end(body);
      return;
    }
    await this.flush();
    this.response.end();
  }

  private async flush(): Promise<void> {
    if (this.response.destroyed) throw new ClientGoneError();
    if (!this.streaming) {
      this.response.writeHead(this.status, this.headers);
      this.streaming = true;
    }
    const chunk = this.parts.join('');
    this.parts = [];
    this.bufferedLength = 0;
    if (!this.response.write(chunk)) await waitForDrain(this.response);
  }
}

function waitForDrain(response: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      response.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      response.off('drain', onDrain);
      reject(new ClientGoneError());
    };
    response.once('drain', onDrain);
    response.once('close', onClose);
  });
}

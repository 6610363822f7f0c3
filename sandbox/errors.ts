/** Error replies in the form MISP 2.5.1 sends them: `{"name", "message", "url"}`. */

export class MispHttpError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** MISP sends most errors as compact JSON, but validation failures pretty-printed. */
  readonly pretty: boolean;

  constructor(status: number, body: Record<string, unknown>, pretty = false) {
    super(String(body.message ?? body.name ?? `HTTP ${status}`));
    this.name = 'MispHttpError';
    this.status = status;
    this.body = body;
    this.pretty = pretty;
  }
}

/** MISP 2.5.1's 403 message for a missing, wrong or disabled API key. */
export const AUTH_FAILED_MESSAGE =
  'Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.';

/** Builds the usual MISP error: the same text in `name` and `message`, and the request path in `url`. */
export function mispError(status: number, message: string, url: string): MispHttpError {
  return new MispHttpError(status, { name: message, message, url });
}

/** Builds the reply MISP 2.5.1 gives for an uncaught PHP error. */
export function internalError(url: string): MispHttpError {
  return mispError(500, 'An Internal Error Has Occurred.', url);
}

/**
 * Builds the 501 reply for a request the sandbox cannot process as MISP would, because it does not
 * implement that part of the API. Failing loudly keeps a test from passing on a reply MISP would not give.
 */
export function notImplemented(what: string, url: string): MispHttpError {
  return mispError(501, `The MISP sandbox does not implement ${what}.`, url);
}

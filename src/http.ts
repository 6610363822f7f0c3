/**
 * Builds the undici dispatcher for MISP requests: the TLS settings (custom CA, client
 * certificate, verification) and the HTTP(S)_PROXY and NO_PROXY variables in one place.
 */
import { EnvHttpProxyAgent, type Dispatcher } from 'undici';

export interface ConnectionSettings {
  verifyTls: boolean;
  /** PEM text of the certificate authorities to trust, in addition to Node's bundled ones. */
  caCert: string;
  /** PEM client certificate and key for servers that require mutual TLS. */
  clientCert: string;
  clientKey: string;
  timeoutMs: number;
}

export function buildDispatcher(settings: ConnectionSettings): Dispatcher {
  const tls = {
    rejectUnauthorized: settings.verifyTls,
    ...(settings.caCert ? { ca: settings.caCert } : {}),
    ...(settings.clientCert ? { cert: settings.clientCert, key: settings.clientKey } : {}),
  };
  // EnvHttpProxyAgent reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case). `connect` applies
  // to direct connections and `requestTls` to the TLS session tunnelled through a proxy.
  return new EnvHttpProxyAgent({
    connect: { ...tls, timeout: settings.timeoutMs },
    requestTls: tls,
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
    keepAliveTimeout: 10_000,
  });
}

/**
 * Creates a throwaway CA and server and client certificates with the openssl command-line tool,
 * for TLS tests against local servers. Keys are P-256 and certificates are valid for two days.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCertificates {
  dir: string;
  caPemPath: string;
  caPem: string;
  serverKey: string;
  serverCert: string;
  remove(): void;
}

/** `subjectAltName` is in openssl's syntax; the default lists both loopback names. */
export function createTestCertificates(subjectAltName = 'DNS:localhost,IP:127.0.0.1'): TestCertificates {
  const dir = mkdtempSync(path.join(tmpdir(), 'misp-fp-demote-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

  openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2',
    '-subj', '/CN=misp-fp-demote test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(
    file('server.ext'),
    `subjectAltName=${subjectAltName}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext'));

  return {
    dir,
    caPemPath: file('ca.pem'),
    caPem: readFileSync(file('ca.pem'), 'utf8'),
    serverKey: readFileSync(file('server.key'), 'utf8'),
    serverCert: readFileSync(file('server.pem'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ClientCertificate {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

/** Creates a client certificate (extendedKeyUsage clientAuth) signed by the CA of `certificates`. */
export function createClientCertificate(certificates: TestCertificates, commonName = 'misp-fp-demote test client'): ClientCertificate {
  const file = (name: string) => path.join(certificates.dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: certificates.dir, stdio: ['ignore', 'ignore', 'pipe'] });

  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', file('client.key'), '-out', file('client.csr'), '-subj', `/CN=${commonName}`);
  writeFileSync(file('client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', file('client.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('client.pem'), '-days', '2', '-extfile', file('client.ext'));

  return {
    cert: readFileSync(file('client.pem'), 'utf8'),
    key: readFileSync(file('client.key'), 'utf8'),
    certPath: file('client.pem'),
    keyPath: file('client.key'),
  };
}

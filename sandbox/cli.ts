/**
 * Starts the MISP sandbox from the command line and runs it until SIGINT or SIGTERM:
 *
 *   node sandbox/cli.ts [--dataset FILE] [--port N] [--key KEY] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DatasetError } from './dataset.ts';
import { SANDBOX_DEFAULT_KEY, type Sandbox, type SandboxTlsOptions, startSandbox } from './server.ts';

const DEFAULT_DATASET = fileURLToPath(new URL('./datasets/demo.json', import.meta.url));

const USAGE = `Usage: node sandbox/cli.ts [--dataset FILE] [--port N] [--key KEY] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

Starts an HTTP server on 127.0.0.1 that responds like MISP 2.5.1 for the endpoints misp-fp-demote uses.

  --dataset FILE  MISP events to serve: a list of {"Event": {...}} or a /events/restSearch reply
                  (default: sandbox/datasets/demo.json)
  --port N        TCP port from 0 to 65535; 0 picks a free port (default: 0)
  --key KEY       API key the sandbox accepts, 40 letters and digits (default: ${SANDBOX_DEFAULT_KEY})
  --tls-cert FILE PEM server certificate: serve HTTPS instead of HTTP (needs --tls-key)
  --tls-key FILE  PEM private key of --tls-cert
  --tls-client-ca FILE
                  PEM CA certificate: require a client certificate signed by it (mutual TLS)
  --help          Print this help and exit`;

export interface CliOptions {
  dataset: string;
  port: number;
  key: string;
  /** PEM file paths; absent for plain HTTP. */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
}

/** A command-line mistake: the message names the flag, the value and the fix. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses the command-line flags; returns undefined when --help was asked for. */
export function parseCliArgs(args: string[]): CliOptions | undefined {
  let values: {
    dataset?: string;
    port?: string;
    key?: string;
    'tls-cert'?: string;
    'tls-key'?: string;
    'tls-client-ca'?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        dataset: { type: 'string' },
        port: { type: 'string' },
        key: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-client-ca': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}. Run with --help for the accepted flags.`);
  }
  if (values.help) return undefined;

  const portText = values.port ?? '0';
  if (!/^\d+$/.test(portText) || Number(portText) > 65_535) {
    throw new UsageError(`Invalid --port value "${portText}": use a whole number from 0 to 65535 (0 picks a free port).`);
  }
  const key = values.key ?? SANDBOX_DEFAULT_KEY;
  if (!/^[a-zA-Z0-9]{40}$/.test(key)) {
    throw new UsageError(`Invalid --key value "${key}": a MISP API key is exactly 40 letters and digits, such as ${SANDBOX_DEFAULT_KEY}.`);
  }
  const dataset = values.dataset ?? DEFAULT_DATASET;
  if (dataset === '') throw new UsageError('Invalid --dataset value "": give the path of a JSON file, or leave the flag out for the demo dataset.');

  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  const clientCaFile = values['tls-client-ca'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together: give both to serve HTTPS, or neither for HTTP.');
  }
  if (clientCaFile !== undefined && certFile === undefined) {
    throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key: mutual TLS runs over HTTPS.');
  }
  const tls = certFile && keyFile ? { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) } : undefined;
  return { dataset, port: Number(portText), key, ...(tls ? { tls } : {}) };
}

/** Reads the PEM files named by the TLS flags. */
function readTlsFiles(tls: NonNullable<CliOptions['tls']>): SandboxTlsOptions {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`Invalid ${flag} value "${file}": the file could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`);
    }
  };
  return {
    cert: read('--tls-cert', tls.certFile),
    key: read('--tls-key', tls.keyFile),
    ...(tls.clientCaFile ? { ca: read('--tls-client-ca', tls.clientCaFile), requestClientCert: true } : {}),
  };
}

async function main(): Promise<void> {
  let options: CliOptions | undefined;
  let tls: SandboxTlsOptions | undefined;
  try {
    options = parseCliArgs(process.argv.slice(2));
    if (options?.tls) tls = readTlsFiles(options.tls);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    process.exitCode = 2;
    return;
  }
  if (!options) {
    console.log(USAGE);
    return;
  }

  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox({ dataset: options.dataset, port: options.port, key: options.key, ...(tls ? { tls } : {}) });
  } catch (error) {
    const reason = error instanceof DatasetError ? error.message : String((error as Error).message ?? error);
    console.error(`MISP sandbox failed to start: ${reason}`);
    process.exitCode = 1;
    return;
  }

  console.log(`MISP sandbox listening on ${sandbox.url}`);
  console.log(`API key: ${sandbox.key}`);
  console.log(`Dataset: ${options.dataset}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const count = sandbox.calls.length;
    console.log(`MISP sandbox stopping on ${signal} after ${count} ${count === 1 ? 'request' : 'requests'}.`);
    sandbox.close().then(
      () => console.log('MISP sandbox stopped.'),
      (error: unknown) => {
        console.error(`MISP sandbox did not stop cleanly: ${(error as Error).message}`);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}

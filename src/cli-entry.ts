#!/usr/bin/env node
/**
 * The command's first module. It checks the Node version before the rest loads, because the
 * bundled libraries fail on Node 20 with errors that do not name the cause.
 */
const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_MAJOR) {
  process.stderr.write(
    `misp-fp-demote: needs Node ${REQUIRED_MAJOR} or newer, but runs on Node ${process.versions.node}. Install Node ${REQUIRED_MAJOR} (the README's "Node 24" section shows how) and run the command with it.\n`,
  );
  process.exit(2);
}

await import('./cli.ts');

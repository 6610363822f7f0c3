/**
 * The logging the core needs. The action passes one built on @actions/core (which also masks
 * secrets in the runner log); the command line passes one that writes to stderr.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** Runs `work` inside a collapsible log group. */
  group<T>(name: string, work: () => Promise<T>): Promise<T>;
}

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warning() {},
  error() {},
  group: (_name, work) => work(),
};

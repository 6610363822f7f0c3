/** A Logger that keeps every line, so tests can check what was logged and that no secret was. */
import type { Logger } from '../../src/logger.ts';

export interface RecordingLogger extends Logger {
  lines: { level: 'debug' | 'info' | 'warning' | 'error'; message: string }[];
  /** Every logged message joined by line breaks. */
  text(): string;
}

export function recordingLogger(): RecordingLogger {
  const lines: RecordingLogger['lines'] = [];
  return {
    lines,
    text: () => lines.map((line) => line.message).join('\n'),
    debug: (message) => void lines.push({ level: 'debug', message }),
    info: (message) => void lines.push({ level: 'info', message }),
    warning: (message) => void lines.push({ level: 'warning', message }),
    error: (message) => void lines.push({ level: 'error', message }),
    group: (_name, work) => work(),
  };
}

/** UUID helpers: MISP's validation rule, stable generated UUIDs, and a 16-byte packed form for large tables. */
import { createHash } from 'node:crypto';

// CakePHP 2 Validation::uuid, which MISP 2.5.1 uses to tell a UUID from an id in URLs and filters.
const CAKE_UUID = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[0-5][a-fA-F0-9]{3}-[089aAbB][a-fA-F0-9]{3}-[a-fA-F0-9]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && CAKE_UUID.test(value);
}

/**
 * Returns a version-4-shaped UUID derived from a name, so a dataset loaded twice gets the same
 * UUIDs for the records it left without one.
 */
export function stableUuid(name: string): string {
  const bytes = createHash('sha256').update(`misp-sandbox:${name}`).digest();
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return formatUuid(bytes, 0);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const DASH_POSITIONS = new Set([8, 13, 18, 23]);

/**
 * Writes a lowercase canonical UUID into 16 bytes at `offset`; returns false for any other text,
 * which the caller then keeps as a string. Parses character codes directly because loading a
 * large dataset calls this once per sighting.
 */
export function packUuid(uuid: string, target: Uint8Array, offset: number): boolean {
  if (uuid.length !== 36) return false;
  let position = offset;
  let high = -1;
  for (let i = 0; i < 36; i++) {
    const code = uuid.charCodeAt(i);
    if (DASH_POSITIONS.has(i)) {
      if (code !== 0x2d) return false;
      continue;
    }
    let nibble: number;
    if (code >= 0x30 && code <= 0x39) nibble = code - 0x30;
    else if (code >= 0x61 && code <= 0x66) nibble = code - 0x57;
    else return false;
    if (high < 0) {
      high = nibble;
    } else {
      target[position++] = (high << 4) | nibble;
      high = -1;
    }
  }
  return true;
}

/** Formats 16 bytes at `offset` as a lowercase canonical UUID. */
export function formatUuid(source: Uint8Array, offset: number): string {
  let text = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += '-';
    text += HEX[source[offset + i] ?? 0];
  }
  return text;
}

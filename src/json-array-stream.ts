/**
 * Incremental reader for one large array inside a JSON document, such as `response.Attribute` of
 * a MISP restSearch reply. It returns the bytes of each element of that array as soon as its last
 * byte arrives, and the caller parses them one at a time. So neither the document text nor the
 * whole array is ever held, and each parsed element can be garbage before the next. Everything outside the
 * array (the skeleton, a few bytes in a MISP reply) is kept and parsed at the end with the array
 * left empty, so the document as a whole is checked to be JSON.
 *
 * It scans bytes, not characters: every byte that JSON gives a meaning (quotes, backslashes,
 * brackets, commas, whitespace) is ASCII, and no byte of a multi-byte UTF-8 character is ASCII,
 * so a chunk may end anywhere, even inside a character.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Position of the scanner relative to the elements of the extracted array. */
type ElementState = 'first' | 'after-comma' | 'in-element' | 'after-element';

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export class JsonArrayStream {
  private readonly arrayPath: readonly string[];
  /** Invalid UTF-8 becomes U+FFFD, as in undici's body.text(). */
  private readonly decoder = new TextDecoder();
  /** Kind of each open container, outermost first. */
  private readonly containers: Array<'object' | 'array'> = [];
  /** The latest key of each open object up to the depth of arrayPath; undefined for arrays. */
  private readonly keys: Array<string | undefined> = [];
  private inString = false;
  private escaped = false;
  private expectingKey = false;
  /** The bytes of a key being read, which may span chunks; undefined when no key is being read. */
  private keyParts: Uint8Array[] | undefined;
  /** Depth of the extracted array while the scanner is inside it, otherwise 0. */
  private arrayDepth = 0;
  private elementState: ElementState = 'first';
  /** Bytes of the current element from earlier chunks. */
  private elementParts: Uint8Array[] = [];
  private readonly skeletonParts: Uint8Array[] = [];
  private offset = 0;

  /** Extracts the elements of the array at this chain of object keys, such as ['response', 'Attribute']. */
  constructor(arrayPath: readonly string[]) {
    this.arrayPath = arrayPath;
  }

  /**
   * Scans the next chunk of the document and returns the bytes of each element it completes,
   * views into the chunk where it can. Throws a SyntaxError when the bytes so far cannot be the
   * start of a JSON document; parseElement finds errors inside an element.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const elements: Uint8Array[] = [];
    let elementStart = this.elementState === 'in-element' ? 0 : -1;
    let skeletonStart = this.arrayDepth === 0 ? 0 : -1;
    let keyStart = this.keyParts === undefined ? -1 : 0;

    for (let index = 0; index < chunk.length; index++) {
      const byte = chunk[index]!;

      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
        } else if (byte === BACKSLASH) {
          this.escaped = true;
        } else if (byte === QUOTE) {
          this.inString = false;
          if (keyStart >= 0) {
            this.keyParts!.push(chunk.subarray(keyStart, index + 1));
            this.keys[this.keys.length - 1] = this.decodeKey(this.keyParts!);
            this.keyParts = undefined;
            keyStart = -1;
          }
        } else {
          index = this.skipStringBytes(chunk, index);
        }
        continue;
      }

      if (this.arrayDepth !== 0 && this.containers.length === this.arrayDepth) {
        // Directly inside the extracted array: a scalar element ends at the first delimiter after it.
        if (elementStart >= 0) {
          if (byte === QUOTE) {
            this.inString = true;
            continue;
          }
          if (!isWhitespace(byte) && byte !== COMMA && byte !== CLOSE_ARRAY) continue;
          elements.push(this.completeElement(chunk.subarray(elementStart, index)));
          elementStart = -1;
          this.elementState = 'after-element';
        }

        if (isWhitespace(byte)) continue;
        if (byte === COMMA) {
          if (this.elementState !== 'after-element') throw this.syntaxError(index, 'a comma without an array element before it');
          this.elementState = 'after-comma';
          continue;
        }
        if (byte === CLOSE_ARRAY) {
          if (this.elementState === 'after-comma') throw this.syntaxError(index, 'a comma before the end of the array');
          this.containers.pop();
          this.keys.pop();
          this.arrayDepth = 0;
          this.expectingKey = false;
          skeletonStart = index;
          continue;
        }
        if (this.elementState === 'after-element') throw this.syntaxError(index, 'two array elements without a comma between them');
        this.elementState = 'in-element';
        elementStart = index;
        if (byte === QUOTE) {
          this.inString = true;
          continue;
        }
        if (byte !== OPEN_OBJECT && byte !== OPEN_ARRAY) continue;
      }

      if (byte === QUOTE) {
        this.inString = true;
        if (this.expectingKey && this.containers.length <= this.arrayPath.length) {
          this.keyParts = [];
          keyStart = index;
        }
        this.expectingKey = false;
      } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        const kind = byte === OPEN_OBJECT ? 'object' : 'array';
        this.containers.push(kind);
        this.keys.push(undefined);
        this.expectingKey = kind === 'object';
        if (kind === 'array' && this.arrayDepth === 0 && this.isExtractedArray()) {
          this.arrayDepth = this.containers.length;
          this.elementState = 'first';
          this.skeletonParts.push(new Uint8Array(chunk.subarray(skeletonStart, index + 1)));
          skeletonStart = -1;
        }
      } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        const kind = byte === CLOSE_OBJECT ? 'object' : 'array';
        if (this.containers.pop() !== kind) throw this.syntaxError(index, `an unexpected ${String.fromCharCode(byte)}`);
        this.keys.pop();
        this.expectingKey = false;
        if (elementStart >= 0 && this.containers.length === this.arrayDepth) {
          elements.push(this.completeElement(chunk.subarray(elementStart, index + 1)));
          elementStart = -1;
          this.elementState = 'after-element';
        }
      } else if (byte === COMMA) {
        this.expectingKey = this.containers.at(-1) === 'object';
      }
    }

    // Bytes that continue in the next chunk are copied, so the chunk itself can be released.
    // Buffer's slice() makes a view, unlike Uint8Array's, so the copy is explicit.
    if (elementStart >= 0) this.elementParts.push(new Uint8Array(chunk.subarray(elementStart)));
    if (skeletonStart >= 0) this.skeletonParts.push(new Uint8Array(chunk.subarray(skeletonStart)));
    if (keyStart >= 0) this.keyParts!.push(new Uint8Array(chunk.subarray(keyStart)));
    this.offset += chunk.length;
    return elements;
  }

  /**
   * Returns the index of the last byte of a string run that needs no look: the byte before the
   * next quote that ends the string, or the escaped quote itself, or the last byte of the chunk.
   * A quote is escaped when an odd number of backslashes precedes it; `index` is no backslash.
   */
  private skipStringBytes(chunk: Uint8Array, index: number): number {
    const quote = chunk.indexOf(QUOTE, index + 1);
    const runEnd = quote < 0 ? chunk.length : quote;
    let backslashes = 0;
    while (runEnd - backslashes - 1 > index && chunk[runEnd - backslashes - 1] === BACKSLASH) backslashes++;
    if (quote < 0) {
      this.escaped = backslashes % 2 === 1;
      return chunk.length - 1;
    }
    return backslashes % 2 === 1 ? quote : quote - 1;
  }

  /**
   * Ends the document and returns it parsed, with the extracted array empty, or undefined for
   * an empty document. Throws a SyntaxError when the document is not JSON, such as when it was cut short.
   */
  end(): unknown {
    if (this.arrayDepth !== 0 || this.containers.length > 0 || this.inString) {
      throw new SyntaxError(`the JSON document ends after ${this.offset} bytes, inside ${this.arrayDepth !== 0 ? 'the array' : 'a value'}`);
    }
    const text = this.decoder.decode(concatenate(this.skeletonParts));
    if (text.trim() === '') return undefined;
    return JSON.parse(text);
  }

  private isExtractedArray(): boolean {
    const depth = this.containers.length - 1;
    if (depth !== this.arrayPath.length) return false;
    for (let level = 0; level < depth; level++) {
      if (this.containers[level] !== 'object' || this.keys[level] !== this.arrayPath[level]) return false;
    }
    return true;
  }

  /** Parses the bytes of one element that push returned. Throws a SyntaxError when they are not JSON. */
  parseElement(bytes: Uint8Array): unknown {
    try {
      return JSON.parse(this.decoder.decode(bytes));
    } catch (error) {
      throw new SyntaxError(`an invalid array element in the JSON document (${error instanceof Error ? error.message : String(error)})`);
    }
  }

  private completeElement(tail: Uint8Array): Uint8Array {
    if (this.elementParts.length === 0) return tail;
    const bytes = concatenate([...this.elementParts, tail]);
    this.elementParts = [];
    return bytes;
  }

  private decodeKey(parts: Uint8Array[]): string {
    return JSON.parse(this.decoder.decode(concatenate(parts))) as string;
  }

  private syntaxError(index: number, problem: string): SyntaxError {
    return new SyntaxError(`${problem} at byte ${this.offset + index} of the JSON document`);
  }
}

function concatenate(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

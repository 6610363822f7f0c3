import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonArrayStream } from '../src/json-array-stream.ts';

const PATH = ['response', 'Attribute'];

/** Feeds the document in chunks that end at the given byte offsets and returns what the stream produced. */
function readInChunks(text: string | Uint8Array, cuts: number[] = []): { elements: unknown[]; skeleton: unknown } {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const stream = new JsonArrayStream(PATH);
  const elements: unknown[] = [];
  let start = 0;
  for (const cut of [...new Set(cuts)].filter((offset) => offset > 0 && offset < bytes.length).sort((a, b) => a - b)) {
    for (const element of stream.push(Buffer.from(bytes.subarray(start, cut)))) elements.push(stream.parseElement(element));
    start = cut;
  }
  for (const element of stream.push(Buffer.from(bytes.subarray(start)))) elements.push(stream.parseElement(element));
  return { elements, skeleton: stream.end() };
}

function everyCut(text: string): number[][] {
  const length = new TextEncoder().encode(text).length;
  return Array.from({ length: length + 1 }, (_, offset) => [offset]);
}

describe('JsonArrayStream', () => {
  it('extracts a MISP page element by element', () => {
    const text = '{"response": {"Attribute": [{"id": "1", "Sighting": [{"id": "7"}]}, {"id": "2", "value": "a\\"]},{"}]}}';
    const { elements, skeleton } = readInChunks(text);

    expect(elements).toEqual([{ id: '1', Sighting: [{ id: '7' }] }, { id: '2', value: 'a"]},{' }]);
    expect(skeleton).toEqual({ response: { Attribute: [] } });
  });

  it('gives the same result at every chunk boundary', () => {
    const text = '{"response": {"Attribute": [{"id": "1", "v": "é\\\\"}, "x\\"y", 12, null, [1, [2]], true]}, "n": "ü€😀"}';
    const expected = JSON.parse(text);
    for (const cuts of everyCut(text)) {
      const { elements, skeleton } = readInChunks(text, cuts);
      expect(elements, `cut at ${cuts[0]}`).toEqual(expected.response.Attribute);
      expect(skeleton, `cut at ${cuts[0]}`).toEqual({ ...expected, response: { Attribute: [] } });
    }
  });

  it('reads an empty array and an empty document', () => {
    expect(readInChunks('{"response": {"Attribute": []}}')).toEqual({ elements: [], skeleton: { response: { Attribute: [] } } });
    expect(readInChunks(' \n')).toEqual({ elements: [], skeleton: undefined });
  });

  it('extracts only the array at the path', () => {
    const text = '{"Attribute": [1], "response": {"Event": {"Attribute": [2]}, "Attribute": [{"Attribute": [3]}], "x": [4]}}';
    const { elements, skeleton } = readInChunks(text);

    expect(elements).toEqual([{ Attribute: [3] }]);
    expect(skeleton).toEqual({ Attribute: [1], response: { Event: { Attribute: [2] }, Attribute: [], x: [4] } });
  });

  it('reads a key with escapes and a value named like the key', () => {
    const text = '{"resp\\u006fnse": {"x": "Attribute", "Attribute": [5]}}';
    expect(readInChunks(text).elements).toEqual([5]);
  });

  it('returns a document without the array whole', () => {
    expect(readInChunks('{"response": []}')).toEqual({ elements: [], skeleton: { response: [] } });
    expect(readInChunks('[{"response": {"Attribute": [1]}}]')).toEqual({ elements: [], skeleton: [{ response: { Attribute: [1] } }] });
  });

  it('matches JSON.parse on random documents and chunks', () => {
    const documents = fc.record({
      attributes: fc.array(fc.jsonValue(), { maxLength: 8 }),
      extra: fc.dictionary(fc.string().filter((key) => key !== 'response'), fc.jsonValue(), { maxKeys: 3 }),
      indent: fc.constantFrom(0, 1, 2, '\t', ' \n '),
    });
    fc.assert(
      fc.property(documents, fc.array(fc.nat(4000), { maxLength: 12 }), ({ attributes, extra, indent }, cuts) => {
        const document = { ...extra, response: { Attribute: attributes } };
        const text = JSON.stringify(document, null, indent);
        const { elements, skeleton } = readInChunks(text, cuts);
        // JSON.stringify writes -0 as 0, so compare with what JSON.parse reads back.
        expect(elements).toEqual(JSON.parse(JSON.stringify(attributes)));
        expect(skeleton).toEqual(JSON.parse(JSON.stringify({ ...document, response: { Attribute: [] } })));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects every truncated document', () => {
    const text = '{"response": {"Attribute": [{"id": "1"}, "two", 3]}}';
    const bytes = new TextEncoder().encode(text);
    for (let length = 1; length < bytes.length; length++) {
      expect(() => readInChunks(bytes.subarray(0, length), [Math.floor(length / 2)]), `first ${length} bytes`).toThrow(SyntaxError);
    }
  });

  it.each([
    ['a missing comma', '{"response": {"Attribute": [{"id": "1"} {"id": "2"}]}}', /two array elements without a comma/],
    ['a leading comma', '{"response": {"Attribute": [, 1]}}', /a comma without an array element before it at byte 28/],
    ['a trailing comma', '{"response": {"Attribute": [1, ]}}', /a comma before the end of the array/],
    ['a double comma', '{"response": {"Attribute": [1,, 2]}}', /a comma without an array element/],
    ['an invalid element', '{"response": {"Attribute": [{"id": 1,}]}}', /an invalid array element/],
    ['an invalid scalar', '{"response": {"Attribute": [tru]}}', /an invalid array element/],
    ['a mismatched bracket', '{"response": {"Attribute": [{"id": [1}]}]}', /an unexpected \}/],
    ['an invalid skeleton', '{"response": {"Attribute": [1]}, }', /JSON/],
    ['HTML', '<html><body>Sign in</body></html>', /JSON/],
    ['two documents', '{"response": {"Attribute": [1]}} {}', /JSON/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => readInChunks(text)).toThrow(SyntaxError);
    expect(() => readInChunks(text)).toThrow(message);
  });

  it('replaces invalid UTF-8 as undici does', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"response": {"Attribute": ["a'), 0xff, ...new TextEncoder().encode('"]}}')]);
    expect(readInChunks(bytes).elements).toEqual(['a\ufffd']);
  });
});

import { Readable } from 'node:stream';
import fc from 'fast-check';
import { type Line, lines } from '../../src/sse';

async function collect(chunks: (Buffer | string)[], maxLineBytes?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const line of lines(
    Readable.from(chunks),
    maxLineBytes === undefined ? undefined : { maxLineBytes },
  ))
    out.push(line);
  return out;
}

function texts(ls: Line[]): string[] {
  return ls.map((l) => l.text);
}

describe('lines()', () => {
  test('LF, CRLF and CR all end a line, also when CRLF straddles chunks', async () => {
    expect(texts(await collect(['a\nb\r', '\nc\rd\r\ne']))).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(texts(await collect(['a\r', 'b']))).toEqual(['a', 'b']);
    expect(texts(await collect(['\n\n']))).toEqual(['', '']);
    // An empty chunk between the CR and the LF of one CRLF is still one line end.
    expect(texts(await collect(['a\r', '', '\nb']))).toEqual(['a', 'b']);
    expect(texts(await collect(['a\r', Buffer.alloc(0), '\nb']))).toEqual(['a', 'b']);
  });

  test('a UTF-8 character split across chunks is reassembled', async () => {
    const bytes = Buffer.from('héllo 世界\n🎉done\n');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect(texts(await collect(chunks))).toEqual(['héllo 世界', '🎉done']);
  });

  test('an over-long line is cut on a character boundary and flagged; the next line is intact', async () => {
    const out = await collect(
      [`${'é'.repeat(10)}\nshort\n`, 'x'.repeat(30), 'y'.repeat(30), '\nend'],
      5,
    );
    expect(out).toEqual([
      { text: 'éé', truncated: true },
      { text: 'short', truncated: false },
      { text: 'xxxxx', truncated: true },
      { text: 'end', truncated: false },
    ]);
  });

  test('random text split at random byte offsets gives the same lines', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.constantFrom('\r', '\n', '\r\n')), {
          maxLength: 30,
        }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (parts, cuts) => {
          const text = parts.join('');
          const bytes = Buffer.from(text);
          const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const o of [...offsets, bytes.length]) {
            chunks.push(bytes.subarray(prev, o));
            prev = o;
          }
          const expected = text.split(/\r\n|\r|\n/);
          if (expected[expected.length - 1] === '') expected.pop();
          expect(texts(await collect(chunks))).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('stopping early destroys the source', async () => {
    const source = new Readable({
      read() {
        this.push('line\n');
      },
    });
    for await (const line of lines(source)) {
      expect(line.text).toBe('line');
      break;
    }
    expect(source.destroyed).toBe(true);
  });

  test('bad arguments throw at once', () => {
    expect(() => lines(42 as never)).toThrow(TypeError);
    expect(() => lines(Readable.from([]), { maxLineBytes: 0 })).toThrow(/maxLineBytes/);
    expect(() => lines(Readable.from([]), { maxLine: 1 } as never)).toThrow(/unknown option/);
  });
});

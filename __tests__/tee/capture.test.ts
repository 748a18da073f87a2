import fc from 'fast-check';
import { responseTee } from '../../src/tee';
import { BoundedCapture, CaptureBudget } from '../../src/tee/capture';

describe('BoundedCapture', () => {
  test('copies what the application still holds, keeps an owned chunk that fits whole as is', () => {
    const budget = new CaptureBudget(1024);
    const held = Buffer.from('held by the app');
    const copying = new BoundedCapture(64, 0, budget);
    copying.add(held);
    held.write('HELD');
    expect(copying.finish().body.toString()).toBe('held by the app');

    // A chunk with memory of its own (exactly its size) is kept as is; a small converted string
    // (a slice of Node's 8 KiB pool) is copied, so the capture never pins the pool's slab.
    // (Buffer.alloc, not a converted string: Node 24 backs a 5000-char string's Buffer with a
    // larger store, which the tee then rightly copies.)
    const owned = Buffer.alloc(5000, 's');
    expect(owned.buffer.byteLength).toBe(owned.length);
    const keeping = new BoundedCapture(8192, 0, new CaptureBudget(1 << 20));
    keeping.add(owned, true);
    expect(keeping.finish().body).toBe(owned);
    const pooled = Buffer.from('converted string');
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    const copyingPooled = new BoundedCapture(64, 0, budget);
    copyingPooled.add(pooled, true);
    const kept = copyingPooled.finish().body;
    expect(kept.toString()).toBe('converted string');
    expect(kept.buffer.byteLength).toBe(kept.length);

    // Cut short: only the part that fits is kept, as a copy (not a view pinning the whole chunk).
    const big = Buffer.alloc(200, 7);
    const cut = new BoundedCapture(64, 0, budget);
    cut.add(big, true);
    const body = cut.finish().body;
    expect(body.length).toBe(64);
    expect(body.buffer).not.toBe(big.buffer);
  });

  test('head and tail are always an exact prefix and suffix of the stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }),
        fc.nat(64),
        fc.nat(64),
        (chunks, maxBytes, tailBytes) => {
          const budget = new CaptureBudget(1 << 20);
          const capture = new BoundedCapture(maxBytes, tailBytes, budget);
          for (const c of chunks) capture.add(Buffer.from(c));
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          const r = capture.finish();
          expect(r.totalBytes).toBe(all.length);
          expect(budget.inFlight).toBe(r.capturedBytes);
          if (!r.truncated) {
            expect(r.body.equals(all)).toBe(true);
            expect(r.tail.length).toBe(0);
          } else {
            expect(r.body.equals(all.subarray(0, r.body.length))).toBe(true);
            expect(r.body.length).toBe(Math.min(maxBytes, all.length));
            expect(r.tail.equals(all.subarray(all.length - r.tail.length))).toBe(true);
            expect(r.tail.length).toBe(Math.min(tailBytes, all.length - r.body.length));
          }
          capture.release();
          expect(budget.inFlight).toBe(0);
        },
      ),
    );
  });

  test('head and tail retain exactly what they hold: own exact-size memory, no pool slab, no pinned chunk', () => {
    const budget = new CaptureBudget(1 << 20);
    const capture = new BoundedCapture(100, 300, budget);
    // Small chunks (pool slices) and a big one whose end the tail keeps.
    for (let i = 0; i < 20; i++) capture.add(Buffer.from(`chunk ${i} `.repeat(3)));
    const big = Buffer.alloc(65536, 0x62);
    capture.add(big);
    capture.add(Buffer.from('the end'));
    const r = capture.finish();
    expect(r.truncated).toBe(true);
    expect(r.tail.toString()).toBe(`${'b'.repeat(293)}the end`);
    for (const part of [r.body, r.tail]) {
      expect(part.byteOffset).toBe(0);
      expect(part.buffer.byteLength).toBe(part.length);
      expect(part.buffer).not.toBe(big.buffer);
    }
    // What is charged is what is retained.
    expect(budget.inFlight).toBe(r.body.length + r.tail.length);
    capture.release();
    expect(budget.inFlight).toBe(0);
  });

  test('the shared budget caps bytes in flight across captures, flags them, never throws', () => {
    const budget = new CaptureBudget(100);
    const a = new BoundedCapture(80, 0, budget);
    const b = new BoundedCapture(80, 0, budget);
    a.add(Buffer.alloc(90, 1));
    b.add(Buffer.alloc(90, 2));
    expect(budget.inFlight).toBe(100);
    const ra = a.finish();
    const rb = b.finish();
    expect(ra).toMatchObject({ capturedBytes: 80, truncated: true, budgetExceeded: false });
    expect(rb).toMatchObject({ capturedBytes: 20, truncated: true, budgetExceeded: true });
    // The head stays a contiguous prefix: no bytes after a cut.
    expect(rb.body.equals(Buffer.alloc(20, 2))).toBe(true);
    a.release();
    a.release();
    b.release();
    expect(budget.inFlight).toBe(0);
  });

  test('a tail that cannot be paid for is dropped whole, not left with a gap', () => {
    const budget = new CaptureBudget(12);
    const c = new BoundedCapture(4, 10, budget);
    c.add(Buffer.from('abcdefgh'));
    const other = new BoundedCapture(100, 0, budget);
    other.add(Buffer.alloc(4));
    c.add(Buffer.from('ijklmnopqrst'));
    const r = c.finish();
    expect(r.body.toString()).toBe('abcd');
    expect(r.tail.length).toBe(0);
    expect(r.budgetExceeded).toBe(true);
    c.release();
    other.release();
    expect(budget.inFlight).toBe(0);
  });
});

describe('responseTee options', () => {
  test.each([
    [{ maxBytes: -1 }, /option maxBytes/],
    [{ maxBytes: 'lots' }, /option maxBytes/],
    [{ tailBytes: 1.5 }, /option tailBytes/],
    [{ maxInFlightBytes: {} }, /option maxInFlightBytes/],
    [{ onFinish: 'log' }, /option onFinish/],
    [{ redact: 'cookie' }, /option redact/],
    [{ hash: 'sha257' }, /option hash/],
    [{ decode: 'yes' }, /option decode/],
    [{ request: 'yes' }, /option request/],
    [{ request: { maxByte: 1 } }, /unknown option maxByte/],
    [{ logger: {} }, /option logger/],
    [{ maxByte: 1 }, /unknown option maxByte/],
  ])('%j throws a TypeError naming the option', (options, message) => {
    expect(() => responseTee(options as never)).toThrow(TypeError);
    expect(() => responseTee(options as never)).toThrow(message);
  });

  test('the caller object is not mutated and units are accepted', () => {
    const options = Object.freeze({
      maxBytes: '1kb',
      tailBytes: 16,
      decode: '2kb',
      hash: 'SHA256',
    });
    expect(() => responseTee(options)).not.toThrow();
    expect(options).toEqual({ maxBytes: '1kb', tailBytes: 16, decode: '2kb', hash: 'SHA256' });
  });
});

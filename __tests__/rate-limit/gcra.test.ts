import fc from 'fast-check';
import { MemoryStore } from '../../src/rate-limit';
import type { Policy } from '../../src/rate-limit/policy';

/**
 * The textbook token bucket, in exact integer units: capacity `burst ·
 * interval`, refilled by `rate` per millisecond, each request taking
 * `cost · interval`. GCRA with T = interval / rate must agree with it exactly.
 */
class ReferenceBucket {
  tokens: number;
  last: number;
  constructor(
    readonly rate: number,
    readonly interval: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst * interval;
    this.last = now;
  }
  take(cost: number, now: number): boolean {
    this.tokens = Math.min(this.burst * this.interval, this.tokens + (now - this.last) * this.rate);
    this.last = now;
    if (this.tokens >= cost * this.interval) {
      this.tokens -= cost * this.interval;
      return true;
    }
    return false;
  }
  remaining(): number {
    return Math.floor(this.tokens / this.interval);
  }
}

function policy(rate: number, interval: number, burst: number): Policy {
  return { emission: interval / rate, burst, penalty: undefined };
}

describe('GCRA in the MemoryStore (virtual clock)', () => {
  it('a fresh key admits exactly burst unit-cost requests at once, then rejects', () => {
    const store = new MemoryStore();
    const p = policy(10, 1000, 30);
    const results = Array.from({ length: 40 }, () => store.consume('k', 1, p, 1_000).allowed);
    expect(results.filter(Boolean)).toHaveLength(30);
    expect(results.slice(0, 30).every(Boolean)).toBe(true);
    const d = store.consume('k', 1, p, 1_000);
    expect(d).toMatchObject({ allowed: false, remaining: 0, retryAfter: 100, blocked: 0 });
  });

  it('refills one token per emission interval', () => {
    const store = new MemoryStore();
    const p = policy(10, 1000, 3);
    for (let i = 0; i < 3; i++) expect(store.consume('k', 1, p, 0).allowed).toBe(true);
    expect(store.consume('k', 1, p, 99).allowed).toBe(false);
    expect(store.consume('k', 1, p, 100)).toMatchObject({ allowed: true, remaining: 0 });
    expect(store.consume('k', 1, p, 1_000)).toMatchObject({
      allowed: true,
      remaining: 2,
      reset: 100,
    });
  });

  it('a rejected request consumes nothing: a too-expensive one does not block a cheap one', () => {
    const store = new MemoryStore();
    const p = policy(1, 1000, 5);
    expect(store.consume('k', 4, p, 0)).toMatchObject({ allowed: true, remaining: 1 });
    expect(store.consume('k', 3, p, 0)).toMatchObject({
      allowed: false,
      remaining: 1,
      retryAfter: 2000,
    });
    expect(store.consume('k', 3, p, 0).allowed).toBe(false);
    expect(store.consume('k', 1, p, 0)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('agrees exactly with a reference token bucket on random schedules', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom(1000, 60_000, 7, 333),
        fc.integer({ min: 1, max: 40 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 400 }),
            cost: fc.integer({ min: 0, max: 6 }),
            key: fc.constantFrom('a', 'b', 'c'),
          }),
          { minLength: 1, maxLength: 200 },
        ),
        (rate, interval, burst, schedule) => {
          const store = new MemoryStore();
          const p = policy(rate, interval, burst);
          const refs = new Map<string, ReferenceBucket>();
          let now = 1_000_000;
          for (const step of schedule) {
            now += step.gap;
            let ref = refs.get(step.key);
            if (ref === undefined) {
              ref = new ReferenceBucket(rate, interval, burst, now);
              refs.set(step.key, ref);
            }
            const expected = ref.take(step.cost, now);
            const got = store.consume(step.key, step.cost, p, now);
            if (got.allowed !== expected) return false;
            if (got.allowed && got.remaining !== ref.remaining()) return false;
          }
          return true;
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });

  it('refund gives the cost back, never beyond full', () => {
    const store = new MemoryStore();
    const p = policy(1, 60_000, 2);
    store.consume('k', 1, p, 0);
    store.consume('k', 1, p, 0);
    expect(store.consume('k', 1, p, 0).allowed).toBe(false);
    store.refund('k', 1, p, 0);
    expect(store.consume('k', 1, p, 0)).toMatchObject({ allowed: true, remaining: 0 });
    store.refund('k', 5, p, 0);
    expect(store.consume('k', 1, p, 0)).toMatchObject({ allowed: true, remaining: 1 });
  });
});

describe('penalty box', () => {
  const base = { emission: 1000, burst: 2 };

  it('blocks after `after` consecutive rejections, before touching the bucket', () => {
    const store = new MemoryStore();
    const p: Policy = {
      ...base,
      penalty: { after: 3, duration: 60_000, escalate: 1, max: 60_000 },
    };
    store.consume('k', 1, p, 0);
    store.consume('k', 1, p, 0);
    expect(store.consume('k', 1, p, 0)).toMatchObject({ allowed: false, blocked: 0 });
    expect(store.consume('k', 1, p, 0)).toMatchObject({ allowed: false, blocked: 0 });
    expect(store.consume('k', 1, p, 0)).toMatchObject({
      allowed: false,
      blocked: 60_000,
      retryAfter: 60_000,
    });
    // The bucket refills meanwhile, but the key stays blocked.
    expect(store.consume('k', 1, p, 30_000)).toMatchObject({ allowed: false, blocked: 30_000 });
    expect(store.consume('k', 1, p, 59_999).allowed).toBe(false);
    expect(store.consume('k', 1, p, 60_000)).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('an admitted request resets the consecutive counter', () => {
    const store = new MemoryStore();
    const p: Policy = {
      ...base,
      penalty: { after: 3, duration: 60_000, escalate: 1, max: 60_000 },
    };
    store.consume('k', 1, p, 0);
    store.consume('k', 1, p, 0);
    store.consume('k', 1, p, 0); // reject 1
    store.consume('k', 1, p, 0); // reject 2
    expect(store.consume('k', 1, p, 1000).allowed).toBe(true); // refilled one token
    expect(store.consume('k', 1, p, 1000)).toMatchObject({ allowed: false, blocked: 0 }); // reject 1 again
    expect(store.consume('k', 1, p, 1000)).toMatchObject({ allowed: false, blocked: 0 }); // reject 2
  });

  it('escalates each further block up to max', () => {
    const store = new MemoryStore();
    const p: Policy = {
      ...base,
      penalty: { after: 1, duration: 10_000, escalate: 3, max: 50_000 },
    };
    let now = 0;
    store.consume('k', 2, p, now);
    const lengths: number[] = [];
    for (let i = 0; i < 4; i++) {
      const d = store.consume('k', 5, p, now);
      lengths.push(d.blocked);
      now += d.blocked;
    }
    expect(lengths).toEqual([10_000, 30_000, 50_000, 50_000]);
  });
});

describe('MemoryStore bounds', () => {
  it('evicts the least recently used key beyond maxKeys', () => {
    const store = new MemoryStore({ maxKeys: 3 });
    const p = policy(1, 60_000, 1);
    store.consume('a', 1, p, 0);
    store.consume('b', 1, p, 0);
    store.consume('c', 1, p, 0);
    store.consume('a', 1, p, 0); // touch a: b is now the oldest
    store.consume('d', 1, p, 0);
    expect(store.size).toBe(3);
    expect(store.consume('a', 1, p, 0).allowed).toBe(false); // still remembered
    expect(store.consume('b', 1, p, 0).allowed).toBe(true); // forgotten, fresh again
  });

  it('a key in steady use survives a spray of new keys in a large store', () => {
    const store = new MemoryStore({ maxKeys: 100 });
    const p = policy(1, 60_000, 1);
    store.consume('hot', 1, p, 0);
    for (let i = 0; i < 10_000; i++) {
      store.consume(`spray${i}`, 1, p, 0);
      if (i % 10 === 0) expect(store.consume('hot', 1, p, 0).allowed).toBe(false);
    }
    expect(store.size).toBe(100);
    expect(store.consume('spray9999', 1, p, 0).allowed).toBe(false);
    expect(store.consume('spray0', 1, p, 0).allowed).toBe(true);
  });

  it('spraying 100,000 keys keeps the size at maxKeys', () => {
    const store = new MemoryStore({ maxKeys: 1000 });
    const p = policy(1, 60_000, 5);
    for (let i = 0; i < 100_000; i++) store.consume(`k${i}`, 1, p, 0);
    expect(store.size).toBe(1000);
  });

  it('drops expired keys as calls go by, without timers', () => {
    const store = new MemoryStore();
    const p = policy(10, 1000, 5);
    for (let i = 0; i < 50; i++) store.consume(`k${i}`, 1, p, 0);
    expect(store.size).toBe(50);
    for (let i = 0; i < 30; i++) store.consume('live', 1, p, 10_000 + i * 100);
    expect(store.size).toBe(1);
    store.close();
    expect(store.size).toBe(0);
  });

  it('rejects bad options', () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(/maxKeys/);
    expect(() => new MemoryStore({ max: 1 } as never)).toThrow(/unknown option max/);
  });
});

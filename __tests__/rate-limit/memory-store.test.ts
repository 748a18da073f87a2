import { MemoryStore, type Policy } from '../../src/rate-limit';

const HOUR = 3_600_000;
const boxPolicy: Policy = {
  emission: HOUR,
  burst: 1,
  penalty: { after: 1, duration: HOUR, escalate: 1, max: HOUR },
};
const plain: Policy = { emission: HOUR, burst: 2, penalty: undefined };

/** Puts `key` in the penalty box at `now`: one admitted, one rejected (after: 1). */
function block(store: MemoryStore, key: string, now: number): void {
  expect(store.consume(key, 1, boxPolicy, now).allowed).toBe(true);
  expect(store.consume(key, 1, boxPolicy, now).blocked).toBe(HOUR);
}

describe('MemoryStore eviction', () => {
  it('spraying maxKeys fresh keys does not evict a key in the penalty box', () => {
    const store = new MemoryStore({ maxKeys: 50 });
    const now = 1_000_000;
    block(store, 'attacker', now);
    for (let i = 0; i < 500; i++) store.consume(`spray-${i}`, 1, boxPolicy, now + 1);
    expect(store.size).toBe(50);
    const again = store.consume('attacker', 1, boxPolicy, now + 2);
    expect(again.allowed).toBe(false);
    expect(again.blocked).toBe(HOUR - 2);
  });

  it('evicts the least recently used key that is not blocked', () => {
    const store = new MemoryStore({ maxKeys: 3 });
    const now = 1_000_000;
    for (const key of ['a', 'b', 'c']) store.consume(key, 1, plain, now);
    store.consume('a', 1, plain, now); // a is now the most recent, with 0 left
    store.consume('d', 1, plain, now); // evicts b
    expect(store.size).toBe(3);
    expect(store.consume('a', 1, plain, now).allowed).toBe(false); // kept: still empty
    expect(store.consume('b', 1, plain, now).remaining).toBe(1); // fresh again
  });

  it('when every key is blocked, the oldest blocked key goes: still bounded', () => {
    const store = new MemoryStore({ maxKeys: 3 });
    const now = 1_000_000;
    for (const key of ['a', 'b', 'c']) block(store, key, now);
    store.consume('d', 1, boxPolicy, now);
    expect(store.size).toBe(3);
    expect(store.consume('a', 1, boxPolicy, now).allowed).toBe(true); // a was evicted
    expect(store.consume('c', 1, boxPolicy, now).blocked).toBe(HOUR); // c kept
  });

  it('a key whose block has ended leaves the box: evictable like any other', () => {
    const escalating: Policy = {
      emission: HOUR,
      burst: 1,
      penalty: { after: 1, duration: HOUR, escalate: 2, max: 4 * HOUR },
    };
    const store = new MemoryStore({ maxKeys: 10 });
    const now = 1_000_000;
    store.consume('was-blocked', 1, escalating, now);
    expect(store.consume('was-blocked', 1, escalating, now).blocked).toBe(HOUR);
    const later = now + HOUR + 1;
    for (let i = 0; i < 10; i++) store.consume(`k-${i}`, 1, escalating, later);
    expect(store.size).toBe(10);
    // Evicted: a fresh bucket, so its next block is the first length again
    // (kept, the escalation would double it).
    store.consume('was-blocked', 1, escalating, later);
    expect(store.consume('was-blocked', 1, escalating, later).blocked).toBe(HOUR);
  });

  it('drops expired keys as new ones arrive, so size follows the live keys', () => {
    const store = new MemoryStore({ maxKeys: 1000 });
    for (let i = 0; i < 100; i++) store.consume(`old-${i}`, 1, plain, 0);
    // Two hours later every old bucket is full again (expired).
    for (let i = 0; i < 100; i++) store.consume(`new-${i}`, 1, plain, 2 * HOUR);
    expect(store.size).toBeLessThanOrEqual(120);
  });
});

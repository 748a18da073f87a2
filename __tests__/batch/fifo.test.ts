import { Fifo } from '../../src/batch/fifo';

test('a Fifo keeps order across chunk boundaries, interleaved pushes and shifts, and empties', () => {
  const q = new Fifo<number>();
  expect(q.shift()).toBeUndefined();
  const out: number[] = [];
  let next = 0;
  // Runs of pushes and shifts of varied lengths cross many 1,024-slot chunks.
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 1000 + round * 37; i++) q.push(next++);
    for (let i = 0; i < 900 + round * 29; i++) out.push(q.shift()!);
  }
  expect(q.length).toBe(next - out.length);
  out.push(...q.drain());
  expect(q.length).toBe(0);
  expect(q.shift()).toBeUndefined();
  expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
  q.push(7);
  expect([q.length, q.shift(), q.length]).toEqual([1, 7, 0]);
});

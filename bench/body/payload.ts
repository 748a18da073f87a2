/** The JSON bodies the benchmark posts: an array of small objects and a padding string. */

/**
 * A JSON text of about `size` bytes.
 *
 * @example
 * const body = jsonOf(64 * 1024);
 */
export function jsonOf(size: number): string {
  const items: string[] = [];
  let length = 2;
  let i = 0;
  while (length < size - 64) {
    const item = `{"id":${i},"name":"item-${i}","tags":["a","b"],"v":${(i * 7919) % 1000}}`;
    items.push(item);
    length += item.length + 1;
    i++;
  }
  const body = `{"items":[${items.join(',')}],"pad":"`;
  return `${body}${'x'.repeat(Math.max(0, size - body.length - 2))}"}`;
}

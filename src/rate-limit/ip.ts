import { isIPv4, isIPv6 } from 'node:net';

/**
 * The rate-limit key for a client address: IPv4 as is; IPv4-mapped IPv6
 * (`::ffff:1.2.3.4` and `::ffff:102:304`) as the IPv4 it maps; any other IPv6
 * address as its `/subnet` prefix (`2001:db8:1234:5600::/56`), since one
 * customer usually holds a whole /56 or /64. Anything else is returned as is.
 *
 * @example
 * ipKey('::ffff:10.0.0.1', 56); // '10.0.0.1'
 * ipKey('2001:db8:1:2:3:4:5:6', 56); // '2001:db8:1:200::/56'
 */
export function ipKey(address: string, subnet: number): string {
  const host = withoutPort(address);
  if (isIPv4(host)) return host;
  const zone = host.indexOf('%');
  const bare = zone === -1 ? host : host.slice(0, zone);
  if (!isIPv6(bare)) return address;
  const words = ipv6Words(bare);
  if (embedsIPv4(words)) return ipv4FromWords(words[6] ?? 0, words[7] ?? 0);
  return `${formatPrefix(words, subnet)}/${subnet}`;
}

/**
 * The host of an address some front ends send with a port: `1.2.3.4:5678`
 * and `[2001:db8::1]:443` (or `[2001:db8::1]`) lose the port and brackets, so
 * one client is one key, not one key per connection. Anything else is as is.
 */
function withoutPort(address: string): string {
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close === -1) return address;
    const rest = address.slice(close + 1);
    return rest === '' || /^:\d{1,5}$/.test(rest) ? address.slice(1, close) : address;
  }
  const colon = address.indexOf(':');
  if (
    colon !== -1 &&
    colon === address.lastIndexOf(':') &&
    /^\d{1,5}$/.test(address.slice(colon + 1))
  ) {
    const host = address.slice(0, colon);
    if (isIPv4(host)) return host;
  }
  return address;
}

/** The eight 16-bit words of a valid IPv6 address (with or without a dotted IPv4 tail). */
function ipv6Words(address: string): number[] {
  let text = address.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    text = `${text.slice(0, lastColon + 1)}0`;
  }
  const [head = '', rest] = text.split('::');
  const headWords = head === '' ? [] : head.split(':');
  const restWords = rest === undefined || rest === '' ? [] : rest.split(':');
  if (tail.length > 0) {
    if (restWords.length > 0) restWords.pop();
    else headWords.pop();
  }
  const explicit = headWords.length + restWords.length + tail.length;
  const zeros = rest === undefined ? 0 : 8 - explicit;
  const words = [
    ...headWords.map(hex),
    ...new Array<number>(zeros).fill(0),
    ...restWords.map(hex),
    ...tail,
  ];
  return words;
}

function hex(word: string): number {
  return Number.parseInt(word, 16);
}

/**
 * Addresses that carry one IPv4 client in their last 32 bits: IPv4-mapped
 * `::ffff:0:0/96`, SIIT's IPv4-translated `::ffff:0:0:0/96` (RFC 7915) and
 * NAT64's well-known prefix `64:ff9b::/96` (RFC 6052). Each is keyed as the
 * IPv4 it carries, so clients behind a NAT64 gateway do not share a bucket.
 */
function embedsIPv4(words: number[]): boolean {
  const [w0, w1, w2, w3, w4, w5] = words;
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0) {
    return (w4 === 0 && w5 === 0xffff) || (w4 === 0xffff && w5 === 0);
  }
  return w0 === 0x64 && w1 === 0xff9b && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0;
}

function ipv4FromWords(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

function formatPrefix(words: number[], subnet: number): string {
  const masked = words.map(function mask(word, i) {
    const bitsLeft = subnet - i * 16;
    if (bitsLeft >= 16) return word;
    if (bitsLeft <= 0) return 0;
    return word & (0xffff << (16 - bitsLeft)) & 0xffff;
  });
  let end = masked.length;
  while (end > 0 && masked[end - 1] === 0) end--;
  const head = masked.slice(0, end).map((w) => w.toString(16));
  return end === 8 ? head.join(':') : `${head.join(':')}::`;
}

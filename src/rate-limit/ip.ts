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
  if (isIPv4(address)) return address;
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  if (!isIPv6(bare)) return address;
  const words = ipv6Words(bare);
  if (isMappedIPv4(words)) return ipv4FromWords(words[6] ?? 0, words[7] ?? 0);
  return `${formatPrefix(words, subnet)}/${subnet}`;
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

/** `::ffff:0:0/96`: the IPv4-mapped range. */
function isMappedIPv4(words: number[]): boolean {
  for (let i = 0; i < 5; i++) if (words[i] !== 0) return false;
  return words[5] === 0xffff;
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

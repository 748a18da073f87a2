import { ipKey } from '../../src/rate-limit';

describe('ipKey', () => {
  it.each([
    ['1.2.3.4', 56, '1.2.3.4'],
    // IPv4-mapped IPv6, in every spelling, is the IPv4 it maps (CVE-2026-30827 in express-rate-limit)
    ['::ffff:1.2.3.4', 56, '1.2.3.4'],
    ['::FFFF:1.2.3.4', 56, '1.2.3.4'],
    ['::ffff:0102:0304', 56, '1.2.3.4'],
    ['::ffff:102:304', 56, '1.2.3.4'],
    ['0:0:0:0:0:ffff:1.2.3.4', 56, '1.2.3.4'],
    ['0:0:0:0:0:ffff:0a00:0001', 56, '10.0.0.1'],
    // IPv6 grouped by subnet
    ['2001:db8:1:2ff:aaaa:bbbb:cccc:dddd', 56, '2001:db8:1:200::/56'],
    ['2001:db8:1:2ff::1', 64, '2001:db8:1:2ff::/64'],
    ['2001:db8:1:2ff:1:2:3:4', 128, '2001:db8:1:2ff:1:2:3:4/128'],
    ['2001:db8::1', 48, '2001:db8::/48'],
    ['fe80::1%eth0', 56, 'fe80::/56'],
    ['::1', 56, '::/56'],
    // NAT64's well-known prefix and SIIT's IPv4-translated form carry one IPv4 client each
    ['64:ff9b::1.2.3.4', 56, '1.2.3.4'],
    ['64:ff9b::102:304', 56, '1.2.3.4'],
    ['::ffff:0:1.2.3.4', 56, '1.2.3.4'],
    // a NAT64 local-use prefix (RFC 8215) is not the well-known one: grouped as IPv6
    ['64:ff9b:1::1.2.3.4', 56, '64:ff9b:1::/56'],
    // an address with a port (some front ends) is keyed without it
    ['1.2.3.4:5678', 56, '1.2.3.4'],
    ['[2001:db8:1:2ff::1]:443', 56, '2001:db8:1:200::/56'],
    ['[::ffff:1.2.3.4]:80', 56, '1.2.3.4'],
    ['[2001:db8::1]', 48, '2001:db8::/48'],
    ['not an address', 56, 'not an address'],
  ])('%s /%i → %s', (address, subnet, expected) => {
    expect(ipKey(address, subnet)).toBe(expected);
  });

  it('clients behind a NAT64 gateway never share one /56 bucket', () => {
    const keys = new Set(Array.from({ length: 256 }, (_, i) => ipKey(`64:ff9b::10.0.0.${i}`, 56)));
    expect(keys.size).toBe(256);
  });

  it('distinct IPv4-mapped clients never share one /56 bucket', () => {
    const keys = new Set(Array.from({ length: 256 }, (_, i) => ipKey(`::ffff:10.0.0.${i}`, 56)));
    expect(keys.size).toBe(256);
  });
});

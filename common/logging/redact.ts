/**
 * Secrets never reach a log line, wherever a caller put them: a whole config, a gRPC request, an
 * HTTP request's headers. Redaction is by key name at any depth (pino's own path redaction is one
 * level per wildcard), and values are replaced, not dropped, so a reader sees that something was there.
 */
export const REDACTED = "[redacted]";

/**
 * A key is secret when, lower-cased and without `_`/`-`, it ends in one of these: `pin`, `user_pin`,
 * `password`, `access_token`, `subjectToken`, `client_secret`, `private_key`, `authorization`, ...
 * `pin_file` / `pin_env` name where a secret is, not the secret, and stay readable.
 */
const SECRET_KEY_SUFFIXES = [
  "pin",
  "password",
  "passphrase",
  "token",
  "secret",
  "privatekey",
  "authorization",
  "cookie",
  "apikey",
];

export function isSecretKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/[_-]/g, "");
  return SECRET_KEY_SUFFIXES.some((suffix) => normalized.endsWith(suffix));
}

/**
 * One finished JSON log line, redacted. A line that is not JSON (never expected) is replaced whole:
 * failing closed costs one unreadable line, failing open could cost a key.
 */
export function redactLine(line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return `${JSON.stringify({ level: 50, msg: "a log line that is not JSON was withheld" })}\n`;
  }
  return `${JSON.stringify(redactSecrets(parsed))}\n`;
}

/** Deeper than this, a value is replaced whole: redaction must not be defeated by nesting. */
const MAX_DEPTH = 32;

/** A copy of a JSON value with every secret-keyed value replaced. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = isSecretKey(key) ? REDACTED : redactSecrets(item, depth + 1);
  }
  return out;
}

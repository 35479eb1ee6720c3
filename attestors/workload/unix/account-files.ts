/**
 * /etc/passwd and /etc/group (passwd(5), group(5)) read as the `files` NSS source does: the first
 * line with an ID gives its name. Comments, blank lines, NIS compat lines (`+`, `-`) and lines
 * that are not in the format are passed over and counted.
 */
export interface IdNames {
  readonly names: ReadonlyMap<number, string>;
  readonly malformedLines: number;
}

/** `name:password:UID:GID:GECOS:home:shell` */
export function parsePasswd(text: string): IdNames {
  return parseIdFile(text, 7);
}

/** `name:password:GID:members` */
export function parseGroup(text: string): IdNames {
  return parseIdFile(text, 4);
}

/** The largest ID; (uid_t)-1 means "no ID" to the kernel and is never an account's. */
const MAX_ID = 0xfffffffe;
const DECIMAL = /^\d{1,10}$/;

function parseIdFile(text: string, fields: number): IdNames {
  const names = new Map<number, string>();
  let malformedLines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const parts = line.split(":");
    const [name = "", , id = ""] = parts;
    if (name.startsWith("+") || name.startsWith("-")) continue;
    const value = Number(id);
    if (parts.length !== fields || name === "" || !DECIMAL.test(id) || value > MAX_ID) {
      malformedLines++;
      continue;
    }
    if (!names.has(value)) names.set(value, name);
  }
  return { names, malformedLines };
}

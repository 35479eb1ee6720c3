/**
 * The supplementary groups from /proc/<pid>/status: the line `Groups:\t4 24 27 1000 ` (proc(5);
 * the kernel ends it with a space, and writes `Groups:\t` alone for none). Undefined when the
 * line is missing or holds anything but GIDs.
 */
export function parseStatusGroups(status: string): number[] | undefined {
  const line = status.split("\n").find((l) => l.startsWith("Groups:"));
  if (line === undefined) return undefined;
  const fields = line.slice("Groups:".length).trim();
  if (fields === "") return [];
  const gids: number[] = [];
  for (const field of fields.split(/[ \t]+/)) {
    if (!/^\d{1,10}$/.test(field)) return undefined;
    const gid = Number(field);
    if (gid > 0xfffffffe) return undefined;
    gids.push(gid);
  }
  return gids;
}

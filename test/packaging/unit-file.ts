/**
 * A systemd unit file as sections of `Key=value` lines (systemd.syntax(7)): comments (`#`, `;`)
 * and blank lines dropped, `\` continuations joined, a key that appears twice kept twice (many
 * keys accumulate, such as ReadWritePaths=). Enough to check what a unit sets; systemd-analyze
 * verify checks that systemd accepts it.
 */
export class UnitFile {
  readonly #sections: Map<string, [string, string][]>;

  private constructor(sections: Map<string, [string, string][]>) {
    this.#sections = sections;
  }

  static parse(text: string): UnitFile {
    const sections = new Map<string, [string, string][]>();
    let current: [string, string][] | undefined;
    let continued = "";
    for (const raw of text.split("\n")) {
      const line = continued + raw.trim();
      continued = "";
      if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
      if (line.endsWith("\\")) {
        continued = `${line.slice(0, -1)} `;
        continue;
      }
      const section = /^\[([^\]]+)\]$/.exec(line);
      if (section !== null) {
        current = [];
        sections.set(section[1] ?? "", current);
        continue;
      }
      const eq = line.indexOf("=");
      if (current === undefined || eq <= 0) throw new Error(`not a Key=value line in a section: ${line}`);
      current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
    }
    return new UnitFile(sections);
  }

  /** Every value of `key` in `section`, in order. */
  all(section: string, key: string): string[] {
    return (this.#sections.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
  }

  /** The value in force (the last one), or undefined. */
  get(section: string, key: string): string | undefined {
    return this.all(section, key).at(-1);
  }

  /** Values of a space-separated list key, all its lines together. */
  list(section: string, key: string): string[] {
    return this.all(section, key).flatMap((v) => v.split(/\s+/).filter((w) => w !== ""));
  }
}

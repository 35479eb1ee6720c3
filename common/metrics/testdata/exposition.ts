/**
 * A reader of the Prometheus text exposition format (version 0.0.4) for tests: families with their
 * TYPE and HELP, and samples with their labels unescaped, so that a test asserts on a series' value
 * and labels, not on a substring of the page. Any line it cannot read is an error.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  type: string | undefined;
  help: string | undefined;
  readonly samples: Sample[];
}

export class Exposition {
  readonly families = new Map<string, MetricFamily>();

  /** The family `name` (a histogram's `_bucket`/`_sum`/`_count` samples are in their family). */
  family(name: string): MetricFamily {
    const family = this.families.get(name);
    if (family === undefined) throw new Error(`no metric family ${name} in the exposition`);
    return family;
  }

  /** Every sample named `name` whose labels include all of `labels`. */
  samples(name: string, labels: Record<string, string> = {}): Sample[] {
    const out: Sample[] = [];
    for (const family of this.families.values()) {
      for (const sample of family.samples) {
        if (sample.name !== name) continue;
        if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) out.push(sample);
      }
    }
    return out;
  }

  /** The value of the one sample `name` with exactly `labels`; throws when there is none. */
  value(name: string, labels: Record<string, string> = {}): number {
    const wanted = Object.keys(labels).length;
    const found = this.samples(name, labels).filter((s) => Object.keys(s.labels).length === wanted);
    if (found.length !== 1)
      throw new Error(`${found.length} samples ${name}${JSON.stringify(labels)} in the exposition`);
    return (found[0] as Sample).value;
  }
}

const SUFFIXES = ["_bucket", "_sum", "_count", "_total", "_created"];

export function parseExposition(text: string): Exposition {
  const exposition = new Exposition();
  const familyOf = (name: string): MetricFamily => {
    let family = exposition.families.get(name);
    if (family === undefined) {
      family = { name, type: undefined, help: undefined, samples: [] };
      exposition.families.set(name, family);
    }
    return family;
  };
  text.split("\n").forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (meta === null) return; // a comment
      const family = familyOf(meta[2] as string);
      if (meta[1] === "TYPE") family.type = meta[3];
      else family.help = meta[3];
      return;
    }
    const sample = parseSample(line, where);
    const declared = exposition.families.has(sample.name)
      ? sample.name
      : [...exposition.families.keys()].find((family) =>
          SUFFIXES.some((suffix) => sample.name === `${family}${suffix}`),
        );
    familyOf(declared ?? sample.name).samples.push(sample);
  });
  return exposition;
}

function parseSample(line: string, where: string): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (nameMatch === null) throw new Error(`${where}: no metric name: ${line}`);
  const name = nameMatch[0];
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === "{") {
    at++;
    while (line[at] !== "}") {
      const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(at));
      if (labelMatch === null) throw new Error(`${where}: bad label at column ${at + 1}: ${line}`);
      at += labelMatch[0].length;
      let value = "";
      for (;;) {
        const c = line[at];
        if (c === undefined) throw new Error(`${where}: unterminated label value: ${line}`);
        at++;
        if (c === '"') break;
        if (c !== "\\") {
          value += c;
          continue;
        }
        const escaped = line[at++];
        if (escaped === "n") value += "\n";
        else if (escaped === "\\" || escaped === '"') value += escaped;
        else throw new Error(`${where}: bad escape \\${escaped} in a label value: ${line}`);
      }
      labels[labelMatch[1] as string] = value;
      if (line[at] === ",") at++;
      else if (line[at] !== "}") throw new Error(`${where}: expected , or } at column ${at + 1}: ${line}`);
    }
    at++;
  }
  const rest = line.slice(at).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === "")
    throw new Error(`${where}: expected a value (and a timestamp): ${line}`);
  const value = parseValue(rest[0] as string, where);
  return { name, labels, value };
}

/** As Prometheus reads it (Go's ParseFloat): Inf and NaN in any case (prom-client writes "Nan"). */
function parseValue(text: string, where: string): number {
  const special = text.toLowerCase();
  if (special === "+inf" || special === "inf") return Infinity;
  if (special === "-inf") return -Infinity;
  if (special === "nan") return NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`${where}: ${text} is not a sample value`);
  return value;
}

/**
 * docs/troubleshooting.md is written by hand (what a code means and what to do takes judgement);
 * these helpers check it against the codes the sources can raise (error-codes.ts).
 */

export const TROUBLESHOOTING_DOC = "docs/troubleshooting.md";

/**
 * The codes the page documents: each `### ` heading whose first inline code span is a code, as in
 * "### `PKCS11_PIN_INCORRECT`". A placeholder in angle brackets stands for any text, so
 * "### `NODE_API_<STATUS>`" documents the pattern `NODE_API_*`. Returns each code with the number
 * of headings naming it.
 */
export function documentedCodes(markdown: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of markdown.matchAll(/^### `([A-Z0-9_<>]+)`/gm)) {
    const code = (match[1] ?? "").replace(/<[A-Z0-9_]+>/g, "*");
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return counts;
}

export interface CodeCoverage {
  /** Raised in the sources, no heading in the page. */
  readonly missing: string[];
  /** A heading in the page, raised nowhere (renamed or removed). */
  readonly stale: string[];
  /** More than one heading. */
  readonly duplicated: string[];
}

export function codeCoverage(
  raised: Iterable<string>,
  documented: ReadonlyMap<string, number>,
): CodeCoverage {
  const raisedSet = new Set(raised);
  return {
    missing: [...raisedSet].filter((code) => !documented.has(code)).sort(),
    stale: [...documented.keys()].filter((code) => !raisedSet.has(code)).sort(),
    duplicated: [...documented]
      .filter(([, count]) => count > 1)
      .map(([code]) => code)
      .sort(),
  };
}

/** How `hallmark-server delegation ...` prints elevation requests, delegation tokens and revocations. */
import { renderFields } from "../../common/cli/output.js";
import { formatDuration } from "../../common/config/duration.js";
import type * as pb from "../../proto/gen/admin.js";
import { renderTable } from "./entry-render.js";

/** A span rounded down to whole seconds and its two largest units (`2h5m`, `45s`): ages and TTLs. */
export function roughDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const exact = formatDuration(seconds * 1000);
  return (exact.match(/\d+[a-z]+/g) ?? [exact]).slice(0, 2).join("");
}

function time(ms: number): string {
  return new Date(ms).toISOString();
}

export function renderElevationRequests(list: pb.ListElevationRequestsResponse): string[] {
  const { requests } = list;
  const lines = [
    `Found ${requests.length} elevation ${requests.length === 1 ? "request" : "requests"}`,
    ...renderTable(
      ["ID", "STATUS", "USER", "AGENT", "SCOPES", "WHY", "TTL", "AGE"],
      requests.map((r) => [
        r.id,
        r.status,
        r.subject,
        r.actor,
        r.scopes.join(" "),
        r.reason,
        roughDuration(r.requestedTtlSeconds * 1000),
        roughDuration(list.nowMs - r.createdAtMs),
      ]),
    ),
  ];
  if (list.truncated) lines.push("(more requests match: raise --limit)");
  return lines;
}

export function renderElevationRequest(request: pb.ElevationRequest): string[] {
  return renderFields([
    ["Request ID", request.id],
    ["Status", request.status],
    ["User", request.subject],
    ["User issuer", request.subjectIssuer],
    ["Agent", request.actor],
    ["Entry ID", request.entryId],
    ...request.scopes.map((scope) => ["Scope", scope] as const),
    ...request.audiences.map((audience) => ["Audience", audience] as const),
    ["Why", request.reason],
    ["Requested TTL", roughDuration(request.requestedTtlSeconds * 1000)],
    ["Requested at", time(request.createdAtMs)],
    [
      "Decide before",
      request.status === "pending" || request.status === "expired" ? time(request.expiresAtMs) : undefined,
    ],
    ["Decided at", request.decidedAtMs === 0 ? undefined : time(request.decidedAtMs)],
    ["Decided by", request.decidedBy === "" ? undefined : request.decidedBy],
    ["Approved until", request.approvedUntilMs === 0 ? undefined : time(request.approvedUntilMs)],
    ["Note", request.note === "" ? undefined : request.note],
  ]);
}

export function renderDecision(request: pb.ElevationRequest): string[] {
  const what = `${request.scopes.join(" ")} for ${request.subject} by ${request.actor}`;
  return request.status === "approved"
    ? [`Approved elevation request ${request.id} (${what}) until ${time(request.approvedUntilMs)}`]
    : [`Denied elevation request ${request.id} (${what})`];
}

export function renderRevocation(revocation: pb.Revocation): string[] {
  return [
    `Revoked ${revocation.kind} ${revocation.value}: revocation ${revocation.id}, in force until ${time(revocation.expiresAtMs)}`,
  ];
}

function revokedMark(token: pb.DelegationToken): string {
  if (token.revokedBy.length === 0) return "";
  return `  REVOKED (${token.revokedBy.map((r) => `${r.kind} ${r.value}, revocation ${r.id}`).join("; ")})`;
}

/** One token on one line: who holds it, what for, until when, and whether it is revoked. */
function tokenLine(token: pb.DelegationToken, nowMs: number): string {
  const expiry =
    token.expiresAtMs <= nowMs ? `expired ${time(token.expiresAtMs)}` : `until ${time(token.expiresAtMs)}`;
  const elevated = token.elevationId === "" ? "" : `  elevated (request ${token.elevationId})`;
  return (
    `${token.jti}  ${token.actors[0] ?? "?"}  scope "${token.scopes.join(" ")}"  ` +
    `aud ${token.audiences.join(",")}  ${expiry}${elevated}${revokedMark(token)}`
  );
}

interface TokenForest {
  /** Per chain, the tokens whose parent is not in the list. */
  readonly roots: ReadonlyMap<string, readonly pb.DelegationToken[]>;
  readonly children: ReadonlyMap<string, readonly pb.DelegationToken[]>;
}

/** Each token under its parent (its last ancestor); one without its parent in the list is a root. */
function forestOf(tokens: readonly pb.DelegationToken[]): TokenForest {
  const listed = new Set(tokens.map((t) => t.jti));
  const children = new Map<string, pb.DelegationToken[]>();
  const roots = new Map<string, pb.DelegationToken[]>();
  for (const token of tokens) {
    const parent = token.ancestors.at(-1);
    const [map, key] =
      parent !== undefined && listed.has(parent) ? [children, parent] : [roots, token.chainId];
    map.set(key, [...(map.get(key) ?? []), token]);
  }
  return { roots, children };
}

/** A token's line and, indented below it, its children's subtrees. */
function subtreeLines(
  token: pb.DelegationToken,
  forest: TokenForest,
  nowMs: number,
  indent: string,
  branch: string,
): string[] {
  const lines = [`${indent}${branch}${tokenLine(token, nowMs)}`];
  const below = `${indent}${" ".repeat(branch.length)}`;
  for (const child of forest.children.get(token.jti) ?? []) {
    lines.push(...subtreeLines(child, forest, nowMs, below, "└─ "));
  }
  return lines;
}

/**
 * The tokens as trees, one per chain: children indented under their parent. A token whose parent
 * is not in the list (expired, filtered out or pruned) starts a tree of its own, marked so.
 */
export function renderTokenTree(list: pb.ListDelegationTokensResponse): string[] {
  const { tokens, nowMs } = list;
  const forest = forestOf(tokens);
  const lines = [`Found ${tokens.length} delegation ${tokens.length === 1 ? "token" : "tokens"}`];
  for (const [chainId, roots] of forest.roots) {
    const first = roots[0];
    lines.push("", `Chain ${chainId}  user ${first?.subject ?? "?"} (${first?.subjectIssuer ?? "?"})`);
    for (const root of roots) {
      const parent = root.ancestors.at(-1);
      const [head = "", ...rest] = subtreeLines(root, forest, nowMs, "  ", "");
      lines.push(parent === undefined ? head : `${head}  (parent ${parent} not listed)`, ...rest);
    }
  }
  if (list.truncated) lines.push("", "(more tokens match: narrow the filters or raise --limit)");
  return lines;
}

function tokenFields(token: pb.DelegationToken, nowMs: number): string[] {
  return renderFields([
    ["JTI", token.jti],
    ["Chain", token.chainId],
    ["Depth", token.depth],
    ["User", token.subject],
    ["User issuer", token.subjectIssuer],
    ["Actor", token.actors[0]],
    ...token.actors.slice(1).map((actor) => ["Acting for", actor] as const),
    ["Entry ID", token.entryId],
    ...token.scopes.map((scope) => ["Scope", scope] as const),
    ...token.audiences.map((audience) => ["Audience", audience] as const),
    ["Issued at", time(token.issuedAtMs)],
    ["Expires at", `${time(token.expiresAtMs)}${token.expiresAtMs <= nowMs ? " (expired)" : ""}`],
    ["Elevation", token.elevationId === "" ? undefined : token.elevationId],
    ["Revoked", token.revokedBy.length === 0 ? "no" : "yes"],
    ...token.revokedBy.map(
      (r) =>
        [
          "Revoked by",
          `revocation ${r.id}: ${r.kind} ${r.value} at ${time(r.revokedAtMs)}, until ${time(r.expiresAtMs)}`,
        ] as const,
    ),
  ]);
}

export function renderTokenDetail(detail: pb.DelegationTokenDetail): string[] {
  const { token, nowMs } = detail;
  if (token === undefined) return ["(no token)"];
  const lines = tokenFields(token, nowMs);
  lines.push(
    "",
    `Ancestors (${detail.ancestors.length + detail.missingAncestors.length}), the chain's first first:`,
  );
  const known = new Map(detail.ancestors.map((a) => [a.jti, a]));
  for (const jti of token.ancestors) {
    const ancestor = known.get(jti);
    lines.push(`  ${ancestor === undefined ? `${jti}  (no longer recorded)` : tokenLine(ancestor, nowMs)}`);
  }
  lines.push("", `Descendants (${detail.descendants.length}):`);
  const forest = forestOf([token, ...detail.descendants]);
  for (const child of forest.children.get(token.jti) ?? []) {
    lines.push(...subtreeLines(child, forest, nowMs, "  ", ""));
  }
  // Descendants whose parent the datastore no longer holds (pruned), each under a note.
  for (const orphan of [...forest.roots.values()].flat().filter((t) => t.jti !== token.jti)) {
    lines.push(`  (parent ${orphan.ancestors.at(-1) ?? "?"} no longer recorded)`);
    lines.push(...subtreeLines(orphan, forest, nowMs, "  ", "└─ "));
  }
  return lines;
}

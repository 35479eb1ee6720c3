/** Attested nodes: the programs both databases run. */
import type { SpiffeId } from "../../common/spiffe/index.js";
import type { NodeFilter, Page } from "./datastore.js";
import type { AttestedNode, NodeAttestation } from "./node.js";
import { NODE_COLUMNS, nodeRowParams, storedNode, type RecordDecoder } from "./codec.js";
import { DatastoreError, notFound } from "./errors.js";
import type { WriteContext } from "./changes-sql.js";
import { readPage } from "./pagination.js";
import { NODE_SELECTOR_TABLES, selectorCondition } from "./selector-match.js";
import { chunks, sql, valuesPlaceholders, type Program, type SqlParam } from "./sql/program.js";

export function* selectNode(spiffeId: string, decoder: RecordDecoder): Program<AttestedNode | undefined> {
  const rows = yield* sql("SELECT * FROM attested_nodes WHERE spiffe_id = ?", [spiffeId]);
  return rows[0] === undefined ? undefined : decoder.nodeFromRow(rows[0]);
}

/** Records an attestation; the ban check is in this transaction, so a concurrent ban wins. */
export function* upsertNode(
  tx: WriteContext,
  attestation: NodeAttestation,
  decoder: RecordDecoder,
): Program<AttestedNode> {
  const id = attestation.spiffeId.toString();
  const current = yield* selectNode(id, decoder);
  if (current?.banned === true) {
    throw new DatastoreError("NODE_BANNED", `node ${id} is banned: unban it before it can attest again`);
  }
  const node: AttestedNode = Object.freeze({
    ...attestation,
    banned: false,
    revision: tx.nextRevision(),
    createdAtMs: current?.createdAtMs ?? tx.nowMs,
    updatedAtMs: tx.nowMs,
  });
  const updates = NODE_COLUMNS.filter((c) => c !== "spiffe_id" && c !== "created_at_ms")
    .map((c) => `${c} = excluded.${c}`)
    .join(", ");
  yield* sql(
    `INSERT INTO attested_nodes (${NODE_COLUMNS.join(", ")}) VALUES ${valuesPlaceholders(1, NODE_COLUMNS.length)} ` +
      `ON CONFLICT (spiffe_id) DO UPDATE SET ${updates}`,
    nodeRowParams(node),
  );
  yield* sql("DELETE FROM node_selectors WHERE node_id = ?", [id]);
  const rows: SqlParam[][] = node.selectors.map((s) => [id, s.type, s.value]);
  for (const chunk of chunks(rows, 1000)) {
    yield* sql(
      `INSERT INTO node_selectors (node_id, type, value) VALUES ${valuesPlaceholders(chunk.length, 3)}`,
      chunk.flat(),
    );
  }
  tx.log(node.revision, "node_attested", id, storedNode(node));
  return node;
}

export function* setBanned(
  tx: WriteContext,
  spiffeId: SpiffeId,
  banned: boolean,
  decoder: RecordDecoder,
): Program<AttestedNode> {
  const id = spiffeId.toString();
  const current = yield* selectNode(id, decoder);
  if (current === undefined) throw notFound(`node ${id}`);
  if (current.banned === banned) return current;
  const node: AttestedNode = Object.freeze({
    ...current,
    banned,
    revision: tx.nextRevision(),
    updatedAtMs: tx.nowMs,
  });
  yield* sql("UPDATE attested_nodes SET banned = ?, revision = ?, updated_at_ms = ? WHERE spiffe_id = ?", [
    banned,
    node.revision,
    node.updatedAtMs,
    id,
  ]);
  tx.log(node.revision, banned ? "node_banned" : "node_unbanned", id, storedNode(node));
  return node;
}

export function* evictNode(
  tx: WriteContext,
  spiffeId: SpiffeId,
  decoder: RecordDecoder,
): Program<AttestedNode> {
  const id = spiffeId.toString();
  const rows = yield* sql("DELETE FROM attested_nodes WHERE spiffe_id = ? RETURNING *", [id]);
  if (rows[0] === undefined) throw notFound(`node ${id}`);
  const node = decoder.nodeFromRow(rows[0]);
  tx.log(tx.nextRevision(), "node_evicted", id, storedNode(node));
  return node;
}

export function* listNodes(
  filter: NodeFilter,
  page: { pageSize: number | undefined; afterKey: string | undefined },
  decoder: RecordDecoder,
): Program<Page<AttestedNode>> {
  const conditions: { sql: string; params: SqlParam[] }[] = [];
  if (filter.banned !== undefined) conditions.push({ sql: "banned = ?", params: [filter.banned] });
  if (filter.selectors !== undefined)
    conditions.push(selectorCondition(filter.selectors, NODE_SELECTOR_TABLES));
  return yield* readPage({
    table: "attested_nodes",
    key: "spiffe_id",
    conditions,
    ...page,
    decode: (row) => decoder.nodeFromRow(row),
    keyOf: (node) => node.spiffeId.toString(),
  });
}

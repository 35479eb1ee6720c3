import type { ColumnTypes } from "../sql/driver.js";

/**
 * One step of the schema. The statements are written once against column types, so both databases
 * get the same logical schema; each migration is applied in its own transaction with the row that
 * records it in schema_version. Released migrations are never edited: a change is a new migration.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  statements(types: ColumnTypes): readonly string[];
}

const v1: Migration = {
  version: 1,
  name: "entries, nodes, change log, CA key journal",
  statements: (t) => [
    // One row: the newest revision handed out, and how far the change log has been pruned. Every
    // write transaction locks this row first, which serialises writers (see changes-sql.ts).
    `CREATE TABLE datastore_state (
       id ${t.int} PRIMARY KEY CHECK (id = 1),
       revision ${t.bigint} NOT NULL,
       pruned_through ${t.bigint} NOT NULL
     )`,
    `INSERT INTO datastore_state (id, revision, pruned_through) VALUES (1, 0, 0)`,

    `CREATE TABLE registration_entries (
       id ${t.key} PRIMARY KEY,
       spiffe_id ${t.key} NOT NULL,
       parent_id ${t.key} NOT NULL,
       selectors ${t.text} NOT NULL,
       selector_count ${t.int} NOT NULL,
       selectors_key ${t.key} NOT NULL,
       identity_key ${t.key} NOT NULL,
       x509_svid_ttl_ms ${t.bigint},
       jwt_svid_ttl_ms ${t.bigint},
       dns_names ${t.text} NOT NULL,
       hint ${t.text} NOT NULL,
       node ${t.bool} NOT NULL,
       admin ${t.bool} NOT NULL,
       revision ${t.bigint} NOT NULL,
       created_at_ms ${t.bigint} NOT NULL,
       updated_at_ms ${t.bigint} NOT NULL
     )`,
    // One entry per (SPIFFE ID, parent, selector set), enforced by the database itself, so two
    // servers on one PostgreSQL cannot both create it.
    `CREATE UNIQUE INDEX registration_entries_identity ON registration_entries (identity_key)`,
    `CREATE INDEX registration_entries_spiffe_id ON registration_entries (spiffe_id)`,
    `CREATE INDEX registration_entries_parent_id ON registration_entries (parent_id)`,
    `CREATE INDEX registration_entries_selectors_key ON registration_entries (selectors_key)`,
    `CREATE TABLE entry_selectors (
       entry_id ${t.key} NOT NULL REFERENCES registration_entries (id) ON DELETE CASCADE,
       type ${t.key} NOT NULL,
       value ${t.key} NOT NULL,
       PRIMARY KEY (entry_id, type, value)
     )`,
    `CREATE INDEX entry_selectors_type_value ON entry_selectors (type, value)`,

    `CREATE TABLE attested_nodes (
       spiffe_id ${t.key} PRIMARY KEY,
       ek_hash ${t.key} NOT NULL,
       agent_key ${t.bytes} NOT NULL,
       svid_serial ${t.key} NOT NULL,
       svid_expires_at_ms ${t.bigint} NOT NULL,
       selectors ${t.text} NOT NULL,
       selector_count ${t.int} NOT NULL,
       selectors_key ${t.key} NOT NULL,
       banned ${t.bool} NOT NULL,
       revision ${t.bigint} NOT NULL,
       created_at_ms ${t.bigint} NOT NULL,
       updated_at_ms ${t.bigint} NOT NULL
     )`,
    `CREATE INDEX attested_nodes_ek_hash ON attested_nodes (ek_hash)`,
    `CREATE INDEX attested_nodes_selectors_key ON attested_nodes (selectors_key)`,
    `CREATE TABLE node_selectors (
       node_id ${t.key} NOT NULL REFERENCES attested_nodes (spiffe_id) ON DELETE CASCADE,
       type ${t.key} NOT NULL,
       value ${t.key} NOT NULL,
       PRIMARY KEY (node_id, type, value)
     )`,
    `CREATE INDEX node_selectors_type_value ON node_selectors (type, value)`,

    // The record after each write (as it was, for a delete or evict), so a reader replays the log
    // without looking anything up.
    `CREATE TABLE changes (
       revision ${t.bigint} PRIMARY KEY,
       at_ms ${t.bigint} NOT NULL,
       kind ${t.key} NOT NULL,
       subject ${t.key} NOT NULL,
       record ${t.text} NOT NULL
     )`,

    `CREATE TABLE ca_key_journals (
       name ${t.key} PRIMARY KEY,
       state ${t.text} NOT NULL,
       updated_at_ms ${t.bigint} NOT NULL
     )`,
  ],
};

const v2: Migration = {
  version: 2,
  name: "per-entry delegation policy",
  // JSON ({scopes, audiences, may_delegate_to, max_depth}) or NULL: no policy. Nothing queries
  // inside it (the token endpoint reads the entry it already holds), so one column is enough.
  statements: (t) => [`ALTER TABLE registration_entries ADD COLUMN delegation ${t.text}`],
};

const v3: Migration = {
  version: 3,
  name: "delegation tokens issued, revocations, elevation requests",
  statements: (t) => [
    // What the delegation endpoint issued (never the token itself). The list columns are JSON for
    // reading a record back; what is queried inside them has a side table of its own.
    `CREATE TABLE delegation_tokens (
       jti ${t.key} PRIMARY KEY,
       chain_id ${t.key} NOT NULL,
       ancestors ${t.text} NOT NULL,
       depth ${t.int} NOT NULL,
       subject ${t.key} NOT NULL,
       subject_issuer ${t.key} NOT NULL,
       actors ${t.text} NOT NULL,
       entry_id ${t.key} NOT NULL,
       audiences ${t.text} NOT NULL,
       scopes ${t.text} NOT NULL,
       issued_at_ms ${t.bigint} NOT NULL,
       expires_at_ms ${t.bigint} NOT NULL,
       elevation_id ${t.key}
     )`,
    // Lists are oldest issued first: each filter's index ends with the order.
    `CREATE INDEX delegation_tokens_issued ON delegation_tokens (issued_at_ms, jti)`,
    `CREATE INDEX delegation_tokens_chain ON delegation_tokens (chain_id, issued_at_ms, jti)`,
    `CREATE INDEX delegation_tokens_subject ON delegation_tokens (subject, issued_at_ms, jti)`,
    `CREATE INDEX delegation_tokens_expires ON delegation_tokens (expires_at_ms)`,
    // Every actor of a token's chain, and every ancestor: "tokens naming this agent" and "this token
    // and everything derived from it" are index lookups, and pruning a token removes its rows.
    `CREATE TABLE delegation_token_actors (
       jti ${t.key} NOT NULL REFERENCES delegation_tokens (jti) ON DELETE CASCADE,
       actor ${t.key} NOT NULL,
       PRIMARY KEY (jti, actor)
     )`,
    `CREATE INDEX delegation_token_actors_actor ON delegation_token_actors (actor)`,
    `CREATE TABLE delegation_token_ancestors (
       jti ${t.key} NOT NULL REFERENCES delegation_tokens (jti) ON DELETE CASCADE,
       ancestor ${t.key} NOT NULL,
       PRIMARY KEY (jti, ancestor)
     )`,
    `CREATE INDEX delegation_token_ancestors_ancestor ON delegation_token_ancestors (ancestor)`,

    // The id is a revision of datastore_state's sequence, taken in the serialised write
    // transaction: ids increase in commit order, so a stream resuming after one skips none.
    `CREATE TABLE delegation_revocations (
       id ${t.bigint} PRIMARY KEY,
       kind ${t.key} NOT NULL,
       value ${t.key} NOT NULL,
       revoked_at_ms ${t.bigint} NOT NULL,
       expires_at_ms ${t.bigint} NOT NULL
     )`,
    `CREATE INDEX delegation_revocations_expires ON delegation_revocations (expires_at_ms)`,

    `CREATE TABLE elevation_requests (
       id ${t.key} PRIMARY KEY,
       subject ${t.key} NOT NULL,
       subject_issuer ${t.key} NOT NULL,
       actor ${t.key} NOT NULL,
       entry_id ${t.key} NOT NULL,
       scopes ${t.text} NOT NULL,
       audiences ${t.text} NOT NULL,
       reason ${t.text} NOT NULL,
       requested_ttl_ms ${t.bigint} NOT NULL,
       created_at_ms ${t.bigint} NOT NULL,
       expires_at_ms ${t.bigint} NOT NULL,
       status ${t.key} NOT NULL,
       decided_at_ms ${t.bigint},
       decided_by ${t.key},
       note ${t.text},
       approved_until_ms ${t.bigint}
     )`,
    // Lists are newest first: each filter's index ends with the order.
    `CREATE INDEX elevation_requests_created ON elevation_requests (created_at_ms, id)`,
    `CREATE INDEX elevation_requests_status ON elevation_requests (status, created_at_ms, id)`,
    `CREATE INDEX elevation_requests_subject ON elevation_requests (subject, created_at_ms, id)`,
    `CREATE INDEX elevation_requests_actor ON elevation_requests (actor, created_at_ms, id)`,
  ],
};

/** Every migration this code knows, oldest first; the last one's version is the code's schema version. */
export const MIGRATIONS: readonly Migration[] = [v1, v2, v3];

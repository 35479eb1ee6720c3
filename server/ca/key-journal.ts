import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../common/fs/atomic-write.js";
import { join } from "node:path";
import { z } from "zod";
import { HallmarkError } from "../../common/errors.js";

/** x509: the CA key; jwt: the JWT-SVID key; delegation: the delegation token key (docs/delegation.md). */
export type KeyKind = "x509" | "jwt" | "delegation";
/**
 * pending: about to be generated on the token (written first, so a crash never leaves an unknown key);
 * prepared: published, not yet signing; active: signing; retired: published until its last SVID expires;
 * deleting: out of the bundle, kept in the journal until the token confirms the deletion.
 */
export const KEY_STATUSES = ["pending", "prepared", "active", "retired", "deleting"] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

const journalKeySchema = z.object({
  keyId: z.string().min(1),
  kind: z.enum(["x509", "jwt", "delegation"]),
  status: z.enum(KEY_STATUSES),
  notBeforeMs: z.number().int(),
  notAfterMs: z.number().int(),
  /** x509: the CA certificate, base64 DER. */
  certificate: z.string().optional(),
  /** jwt and delegation: the public key, base64 DER SPKI, so a retired key stays publishable without the token. */
  publicKey: z.string().optional(),
  /** retired: the key stays in the bundle until then (the last SVID it signed expires). */
  keepUntilMs: z.number().int().optional(),
  /** prepared and later: when the key entered the published bundle. */
  publishedAtMs: z.number().int().optional(),
  /** active and later: when it became the signing key. */
  activatedAtMs: z.number().int().optional(),
  /** Activated before relying parties could have fetched it (the previous key had expired). */
  activatedUnannounced: z.boolean().optional(),
});

const journalSchema = z.object({
  version: z.literal(1),
  /** spiffe_sequence of the bundle last published. */
  sequence: z.number().int().nonnegative(),
  keys: z.array(journalKeySchema),
});

export type JournalKey = z.infer<typeof journalKeySchema>;
export type KeyJournalState = z.infer<typeof journalSchema>;

/**
 * Which CA and JWT keys exist and which is active: the small state that must survive a restart. An
 * interface so that the datastore can hold it later; FileKeyJournal keeps it in one JSON file.
 */
export interface KeyJournal {
  /** The saved state, or undefined on first start. */
  load(): Promise<KeyJournalState | undefined>;
  save(state: KeyJournalState): Promise<void>;
}

export type KeyJournalErrorCode = "KEY_JOURNAL_UNREADABLE" | "KEY_JOURNAL_CORRUPT";

export class KeyJournalError extends HallmarkError<KeyJournalErrorCode> {}

/** The journal's contents contradict themselves or the schema. */
export function journalCorrupt(message: string, cause?: unknown): KeyJournalError {
  return new KeyJournalError("KEY_JOURNAL_CORRUPT", message, { category: "failed_precondition", cause });
}

/**
 * Checks a journal read back from wherever it was kept (a file, the datastore) against its schema:
 * KEY_JOURNAL_CORRUPT naming the first field at fault.
 */
export function parseKeyJournalState(json: unknown, what = "the key journal"): KeyJournalState {
  const parsed = journalSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw journalCorrupt(
      `${what} is invalid at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "unknown"}`,
    );
  }
  return parsed.data;
}

/** The journal as `<dataDir>/ca-keys.json`, replaced atomically (common/fs/atomic-write.ts). */
export class FileKeyJournal implements KeyJournal {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, "ca-keys.json");
  }

  async load(): Promise<KeyJournalState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new KeyJournalError(
        "KEY_JOURNAL_UNREADABLE",
        `cannot read the key journal ${this.path}: ${(err as Error).message}`,
        { category: "failed_precondition", cause: err },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw journalCorrupt(`the key journal ${this.path} is not JSON`, err);
    }
    return parseKeyJournalState(json, `the key journal ${this.path}`);
  }

  async save(state: KeyJournalState): Promise<void> {
    await writeFileAtomic(this.path, JSON.stringify(state, null, 2));
  }
}

/** A journal in memory, for tests and for a server run without a data dir. */
export class MemoryKeyJournal implements KeyJournal {
  #state: KeyJournalState | undefined;

  load(): Promise<KeyJournalState | undefined> {
    return Promise.resolve(this.#state === undefined ? undefined : structuredClone(this.#state));
  }

  save(state: KeyJournalState): Promise<void> {
    this.#state = structuredClone(state);
    return Promise.resolve();
  }
}

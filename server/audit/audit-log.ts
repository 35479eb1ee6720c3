import { closeSync, fdatasyncSync, fstatSync, mkdirSync, openSync, writeSync, constants } from "node:fs";
import { dirname } from "node:path";
import { systemClock, type Clock } from "../../common/clock.js";
import { HallmarkError } from "../../common/errors.js";
import type { AuditEvent } from "./audit-event.js";

export type AuditErrorCode = "AUDIT_WRITE_FAILED" | "AUDIT_LOG_CLOSED" | "AUDIT_LOG_UNSAFE";

export class AuditError extends HallmarkError<AuditErrorCode> {}

type WriteFn = (fd: number, bytes: Buffer) => number;

export interface AuditLogOptions {
  clock?: Clock;
  /** write(2); tests inject a failing one to stand for a full disk. */
  write?: WriteFn;
}

export interface AuditSink {
  record(event: AuditEvent): void;
}

/**
 * The audit log: an append-only file of JSON lines, one per security decision, in the order they
 * were made. Writes are synchronous appends (O_APPEND, one write(2) per line), so two lines never
 * interleave and a line is in the file before the decision it records takes effect: a caller that
 * cannot audit a decision gets AUDIT_WRITE_FAILED and must not carry it out (fail closed).
 */
export class AuditLog implements AuditSink {
  readonly path: string;
  readonly #clock: Clock;
  readonly #write: WriteFn;
  #fd: number | undefined;

  private constructor(path: string, fd: number, options: AuditLogOptions) {
    this.path = path;
    this.#fd = fd;
    this.#clock = options.clock ?? systemClock;
    this.#write = options.write ?? writeSync;
  }

  static open(path: string, options: AuditLogOptions = {}): AuditLog {
    return new AuditLog(path, openAppend(path), options);
  }

  record(event: AuditEvent): void {
    const fd = this.#fd;
    if (fd === undefined) throw new AuditError("AUDIT_LOG_CLOSED", `the audit log ${this.path} is closed`);
    const line = `${JSON.stringify({ time: new Date(this.#clock.now()).toISOString(), ...event })}\n`;
    const bytes = Buffer.from(line, "utf8");
    try {
      const written = this.#write(fd, bytes);
      if (written !== bytes.length) throw new Error(`short write: ${written} of ${bytes.length} bytes`);
    } catch (err) {
      throw new AuditError("AUDIT_WRITE_FAILED", `cannot write the audit log ${this.path}`, {
        category: "unavailable",
        cause: err,
      });
    }
  }

  /** Makes every recorded line durable (fdatasync); called at shutdown and periodically. */
  sync(): void {
    if (this.#fd !== undefined) fdatasyncSync(this.#fd);
  }

  /** For log rotation (SIGHUP): continues in a new file at the same path. */
  reopen(): void {
    const next = openAppend(this.path);
    const old = this.#fd;
    this.#fd = next;
    if (old !== undefined) closeSync(old);
  }

  close(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) {
      fdatasyncSync(fd);
      closeSync(fd);
    }
  }
}

function openAppend(path: string): number {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // O_NOFOLLOW: a symlink planted at the path must not redirect the log elsewhere.
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o600,
  );
  const stat = fstatSync(fd);
  if (!stat.isFile() || (stat.mode & 0o022) !== 0) {
    closeSync(fd);
    throw new AuditError(
      "AUDIT_LOG_UNSAFE",
      `the audit log ${path} must be a regular file that group and others cannot write (mode ${(stat.mode & 0o777).toString(8)})`,
      { category: "failed_precondition" },
    );
  }
  return fd;
}

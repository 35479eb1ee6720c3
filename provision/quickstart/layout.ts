import { join, resolve } from "node:path";
import { swtpmFiles, type SwtpmFiles } from "../swtpm.js";
import { softHsmDir, type SoftHsmDir } from "../softhsm.js";

/**
 * Everything the quickstart keeps under its state dir (`./.hallmark` unless HALLMARK_STATE_DIR
 * says otherwise). One place, so the provisioning, the swtpm daemon and the env file the shell
 * script reads agree on every path.
 */
export interface QuickstartLayout {
  readonly stateDir: string;
  readonly tpm: SwtpmFiles;
  /** Written last when the TPM is complete: a TPM directory without it is a leftover, made again. */
  readonly tpmDoneMarker: string;
  readonly hsm: SoftHsmDir;
  readonly hsmDoneMarker: string;
  /** The token's user PIN, mode 0600: the server's `pin_file`. */
  readonly hsmPinFile: string;
  readonly server: {
    readonly config: string;
    readonly dataDir: string;
    readonly adminSocket: string;
  };
  readonly agent: {
    readonly config: string;
    readonly dataDir: string;
    readonly socket: string;
    /** The server's bundle, fetched once the server runs: the agent's `trust_bundle_path`. */
    readonly bootstrapBundle: string;
  };
  readonly logs: { readonly server: string; readonly agent: string; readonly swtpm: string };
  readonly pids: { readonly server: string; readonly agent: string; readonly swtpm: string };
  /** Where `hallmark-agent api fetch x509 --write` puts the workload's SVID, key and bundle. */
  readonly svidDir: string;
  /** Shell assignments of the paths above, read by scripts/quickstart (and a user's shell). */
  readonly envFile: string;
}

export const QUICKSTART_TOKEN_LABEL = "hallmark";
export const QUICKSTART_TRUST_DOMAIN = "example.org";

export function quickstartLayout(stateDirIn: string): QuickstartLayout {
  const stateDir = resolve(stateDirIn);
  const at = (...parts: string[]): string => join(stateDir, ...parts);
  const logs = {
    server: at("logs", "server.log"),
    agent: at("logs", "agent.log"),
    swtpm: at("logs", "swtpm.log"),
  };
  return {
    stateDir,
    tpm: { ...swtpmFiles(at("tpm")), logPath: logs.swtpm },
    tpmDoneMarker: at("tpm", ".manufactured"),
    hsm: softHsmDir(at("softhsm")),
    hsmDoneMarker: at("softhsm", ".initialised"),
    hsmPinFile: at("softhsm", "pin"),
    server: {
      config: at("server", "server.yaml"),
      dataDir: at("server", "data"),
      adminSocket: at("server", "admin", "api.sock"),
    },
    agent: {
      config: at("agent", "agent.yaml"),
      dataDir: at("agent", "data"),
      socket: at("agent", "public", "api.sock"),
      bootstrapBundle: at("agent", "bootstrap-bundle.pem"),
    },
    logs,
    pids: { server: at("run", "server.pid"), agent: at("run", "agent.pid"), swtpm: at("run", "swtpm.pid") },
    svidDir: at("svid"),
    envFile: at("quickstart.env"),
  };
}

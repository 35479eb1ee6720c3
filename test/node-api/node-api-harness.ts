import { mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { systemClock } from "../../common/clock.js";
import { createLogger } from "../../common/logging/logger.js";
import { cryptoRandom } from "../../common/random.js";
import type { Pkcs11KeyManager } from "../../native/pkcs11/key-manager.js";
import { flushContext, openEk, releaseEk, type Ek } from "../../native/tpm/index.js";
import { AuditLog } from "../../server/audit/audit-log.js";
import type { AuditEvent } from "../../server/audit/audit-event.js";
import { CaManager } from "../../server/ca/index.js";
import { testCaOptions } from "../../server/ca/testdata/ca-options.js";
import {
  parseServerConfig,
  type ServerConfig,
  type TpmAttestorConfig,
} from "../../server/config/server-config.js";
import { openSqliteDatastore, type Datastore } from "../../server/datastore/index.js";
import { AuthorizationView } from "../../server/registration/authorization-view.js";
import { startNodeApi, type NodeApi, type NodeApiOptions } from "../../server/api/node/index.js";
import { openSoftHsmKeyManager, type SoftHsmKeyManager } from "../fixtures/softhsm-key-manager.js";
import { fixtureTempRoot, trackTempDir } from "../fixtures/processes.js";
import { SwtpmConnection } from "../tpm/swtpm-connection.js";
import { loadAkAndAgentKey, type KeyTemplates } from "../tpm/loaded-keys.js";
import type { SwtpmOptions } from "../fixtures/swtpm.js";
import { TestAgent, type AgentTpm } from "./test-agent.js";

/** A swtpm with an EK, an AK and an agent key loaded: one host's TPM, as the agent holds it. */
export interface TestHost extends AgentTpm {
  readonly conn: SwtpmConnection;
  stop(): Promise<void>;
}

/** `keys` swaps in other AK or agent key templates (a host whose keys the server must refuse). */
export async function startHost(options?: SwtpmOptions, keys: KeyTemplates = {}): Promise<TestHost> {
  const conn = await SwtpmConnection.start(options);
  try {
    const tpm = conn.tpm;
    const ek: Ek = await openEk(tpm);
    const loaded = await loadAkAndAgentKey(tpm, "eccP256", keys);
    return {
      conn,
      tpm,
      ek,
      ak: loaded.ak,
      agentKey: loaded.agent,
      stop: async () => {
        await flushContext(tpm, loaded.ak.handle);
        await flushContext(tpm, loaded.agent.handle);
        await releaseEk(tpm, ek);
        await conn.stop();
      },
    };
  } catch (err) {
    await conn.stop();
    throw err;
  }
}

/**
 * The node API on real parts: a SoftHSM2 token under the CA, SQLite, the authorization view, an
 * audit log file; trusting the given TPM manufacturer CA files and EK hashes.
 */
export class NodeApiHarness {
  private constructor(
    readonly dir: string,
    readonly config: ServerConfig,
    readonly hsm: SoftHsmKeyManager,
    readonly ca: CaManager,
    readonly datastore: Datastore,
    readonly view: AuthorizationView,
    readonly audit: AuditLog,
    readonly api: NodeApi,
  ) {}

  get keyManager(): Pkcs11KeyManager {
    return this.hsm.keyManager;
  }

  /** `serverConfig`: more top-level server.yaml lines (e.g. `agent_svid_ttl: 1m`). */
  static async start(
    tpm: { ekCaBundlePaths: string[]; ekHashAllowlist: string[] },
    options: NodeApiOptions = {},
    serverConfig: readonly string[] = [],
  ): Promise<NodeApiHarness> {
    const dir = await mkdtemp(join(fixtureTempRoot(), "hallmark-node-api-"));
    trackTempDir(dir);
    const config = parseServerConfig(
      [
        "trust_domain: example.org",
        `data_dir: ${dir}`,
        "bind_address: 127.0.0.1",
        "bind_port: 0",
        "key_manager:",
        "  pkcs11:",
        "    module: /usr/lib/softhsm/libsofthsm2.so",
        "    token_label: node-api",
        "    pin_env: PIN",
        ...serverConfig,
        "node_attestors:",
        "  tpm:",
        ...yamlList("ek_ca_bundle_path", tpm.ekCaBundlePaths),
        ...yamlList("ek_hash_allowlist", tpm.ekHashAllowlist),
        "    pcrs: [0, 1, 7]",
      ].join("\n"),
      "node-api-test.yaml",
    );
    const hsm = await openSoftHsmKeyManager("node-api");
    const { keyManager } = hsm;
    const logger = createLogger({ name: "node-api-test", level: "silent" });
    const ca = await CaManager.start(testCaOptions({ keyManager, clock: systemClock, logger }));
    const datastore = await openSqliteDatastore({ path: join(dir, "datastore.sqlite3") });
    const view = await AuthorizationView.open(datastore, { logger });
    const audit = AuditLog.open(join(dir, "audit.log"));
    const api = await startNodeApi(
      { config, caManager: ca, datastore, view, audit, logger, clock: systemClock, random: cryptoRandom },
      options,
    );
    return new NodeApiHarness(dir, config, hsm, ca, datastore, view, audit, api);
  }

  agent(api: NodeApi = this.api): TestAgent {
    return new TestAgent(api.port, this.ca.bundle, api.serverId);
  }

  /** A second node API on the same CA, datastore and audit log, with another TPM attestor config. */
  anotherApi(tpm: Partial<TpmAttestorConfig>, options: NodeApiOptions = {}): Promise<NodeApi> {
    const logger = createLogger({ name: "node-api-test", level: "silent" });
    return startNodeApi(
      {
        config: { ...this.config, tpm: { ...this.config.tpm, ...tpm } },
        caManager: this.ca,
        datastore: this.datastore,
        view: this.view,
        audit: this.audit,
        logger,
        clock: systemClock,
        random: cryptoRandom,
      },
      options,
    );
  }

  /** The audit log's events, oldest first. */
  async auditEvents(): Promise<AuditEvent[]> {
    const text = await readFile(join(this.dir, "audit.log"), "utf8");
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as AuditEvent);
  }

  async stop(): Promise<void> {
    await this.api.stop();
    this.view.close();
    await this.datastore.close();
    await this.ca.stop();
    await this.hsm.close();
    this.audit.close();
  }
}

function yamlList(key: string, values: readonly string[]): string[] {
  return values.length === 0 ? [] : [`    ${key}: [${values.map((v) => JSON.stringify(v)).join(", ")}]`];
}

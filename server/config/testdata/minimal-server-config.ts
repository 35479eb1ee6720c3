import { configProblems } from "../../../common/config/testdata/config-problems.js";
import { parseServerConfig } from "../server-config.js";

/** The smallest `server.yaml` the server accepts: tests append the keys they are about. */
export const MINIMAL_SERVER_YAML = `
trust_domain: example.org
data_dir: /var/lib/hallmark
key_manager:
  pkcs11:
    module: /usr/lib/softhsm/libsofthsm2.so
    token_label: hallmark
    pin_env: HALLMARK_HSM_PIN
node_attestors:
  tpm:
    ek_ca_bundle_path: /etc/hallmark/tpm-ca.pem
`;

/** The problems the server's config parser names for a refused `server.yaml`. */
export function serverConfigProblems(yaml: string): readonly string[] {
  return configProblems(() => parseServerConfig(yaml, "server.yaml"));
}

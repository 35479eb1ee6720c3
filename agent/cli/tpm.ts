import { Command, Option } from "commander";
import { HallmarkError } from "../../common/errors.js";
import {
  outputOption,
  printResult,
  renderFields,
  type OutputFormat,
  type OutputSink,
} from "../../common/cli/output.js";
import {
  EK_SLOTS,
  identifyTpm,
  openTpm,
  parseTpmEndpoint,
  type EkKind,
  type TpmEndpoint,
  type TpmIdentity,
} from "../../native/tpm/index.js";

export interface TpmCommandIo {
  out?: OutputSink;
}

interface TpmTargetOptions {
  tpmEndpoint?: string;
  tpmDevice?: string;
  swtpmSocket?: string;
}

const DEFAULT_TPM_DEVICE = "/dev/tpmrm0";
const EK_TYPES: readonly EkKind[] = EK_SLOTS.map((slot) => slot.kind);

function endpointFrom(opts: TpmTargetOptions): TpmEndpoint {
  const given = [
    opts.tpmEndpoint !== undefined && "--tpm-endpoint",
    opts.tpmDevice !== undefined && "--tpm-device",
    opts.swtpmSocket !== undefined && "--swtpm-socket",
  ].filter((flag) => flag !== false);
  if (given.length > 1) {
    throw new HallmarkError("CLI_USAGE", `give only one of ${given.join(", ")}`, {
      category: "invalid_argument",
    });
  }
  if (opts.tpmEndpoint !== undefined) return parseTpmEndpoint(opts.tpmEndpoint);
  if (opts.swtpmSocket !== undefined) return { kind: "unix", path: opts.swtpmSocket };
  return { kind: "device", path: opts.tpmDevice ?? DEFAULT_TPM_DEVICE };
}

/** The JSON document `tpm identify --output json` prints: snake_case, stable for scripts. */
function identityJson(id: TpmIdentity): Record<string, unknown> {
  return {
    ek_hash: id.ekHash,
    ek_type: id.ekType,
    ek_handle: `0x${id.ekHandle.toString(16)}`,
    ek_persistent: id.ekPersistent,
    ek_certificate: id.ekCertificate && {
      issuer: id.ekCertificate.issuer,
      subject: id.ekCertificate.subject,
      serial: id.ekCertificate.serial,
      not_after: id.ekCertificate.notAfter,
    },
    manufacturer: id.tpm.manufacturer,
    vendor: id.tpm.vendorString,
    firmware_version: id.tpm.firmwareVersionText,
    firmware_version_raw: `0x${id.tpm.firmwareVersion.toString(16).padStart(16, "0")}`,
    spec_revision: id.tpm.specRevision,
  };
}

function identityText(id: TpmIdentity): string[] {
  return renderFields([
    ["EK hash", id.ekHash],
    ["EK type", id.ekType],
    ["EK handle", `0x${id.ekHandle.toString(16)}${id.ekPersistent ? "" : " (transient, from template)"}`],
    ["EK certificate", id.ekCertificate ? "present" : "absent"],
    ["EK cert issuer", id.ekCertificate?.issuer],
    ["EK cert serial", id.ekCertificate?.serial],
    ["Manufacturer", id.tpm.manufacturer],
    ["Vendor", id.tpm.vendorString],
    ["Firmware version", id.tpm.firmwareVersionText],
  ]);
}

/** `hallmark-agent tpm ...`: look at the host's TPM the way attestation will. */
export function buildTpmCommand(io: TpmCommandIo = {}): Command {
  const tpm = new Command("tpm").description("inspect this host's TPM");
  tpm
    .command("identify")
    .description("print the EK hash (the agent's identity), EK certificate and TPM model")
    .option(
      "--tpm-endpoint <endpoint>",
      "the TPM as /dev/tpmrmN, unix:/path/to/swtpm.sock or tcp:HOST:PORT ([::1] for IPv6)",
    )
    .option("--tpm-device <path>", `TPM character device (default ${DEFAULT_TPM_DEVICE})`)
    .option("--swtpm-socket <path>", "swtpm unix socket instead of a device")
    .addOption(
      new Option("--ek-type <type>", "which EK to use (default: the first provisioned)").choices(EK_TYPES),
    )
    .addOption(outputOption())
    .action(async (opts: TpmTargetOptions & { ekType?: EkKind; output: OutputFormat }) => {
      // openTpm sends TPM2_Startup (a TPM just powered on answers nothing else). This command does
      // not own the TPM: objects loaded next to it are another client's, so nothing is flushed.
      const { tpm: device } = await openTpm(endpointFrom(opts));
      try {
        const identity = await identifyTpm(device, { kind: opts.ekType });
        printResult(
          opts.output,
          identityJson(identity),
          () => identityText(identity),
          io.out ?? process.stdout,
        );
      } finally {
        await device.close();
      }
    });
  return tpm;
}

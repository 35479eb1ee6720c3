import { createHash, X509Certificate, type KeyObject } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import { throwIfAborted } from "../../common/errors.js";
import type { RandomSource } from "../../common/random.js";
import type { SpiffeId, TrustDomain } from "../../common/spiffe/spiffe-id.js";
import { certificateSpiffeId, validateX509SvidSigningCertificate } from "../../common/spiffe/x509-svid.js";
import { verifyCsr } from "./csr.js";
import {
  certificateSubject,
  DerReader,
  TAG,
  bitString,
  explicit,
  extension,
  integerMagnitude,
  octetString,
  oid,
  seq,
  time,
  tlv,
  unsignedInteger,
} from "../../common/der/der.js";
import type { X509HsmSigner } from "./hsm-signer.js";
import type { KeyOperationOptions } from "./key-manager.js";
import { ipAddressBytes } from "../../common/net/ip-address.js";
import type { UpstreamAuthority } from "./upstream-authority.js";
import { IssuanceError, checkSvidRequest } from "./issuance-error.js";
import { parseSvidSpki, type ParsedSpki, type SvidKeyType } from "./spki.js";

export const DEFAULT_X509_SVID_TTL_MS = 60 * 60 * 1000;
export const DEFAULT_CA_TTL_MS = 24 * 60 * 60 * 1000;
/** NotBefore is set this far back so that peers with slightly slow clocks accept a fresh SVID. */
export const BACKDATE_MS = 10_000;

export type X509SvidRequest = {
  spiffeId: SpiffeId;
  /** Lifetime; capped so the SVID never outlives the CA certificate. Default 1 h. */
  ttlMs?: number;
  dnsNames?: string[];
  /** iPAddress SANs (IPv4 or IPv6 text), for a server that clients reach by address. */
  ipAddresses?: string[];
} & ({ csr: Buffer } | { publicKey: Buffer | KeyObject });

export interface IssuedX509Svid {
  /** DER of the SVID. */
  certificate: Buffer;
  /** DER of the CA certificate that signed it. */
  caCertificate: Buffer;
  /**
   * What to send after the SVID so that a peer reaches a bundle root: empty when the CA certificate is
   * itself a root, the CA certificate (and any upstream intermediates) when an upstream CA signed it.
   */
  intermediates: Buffer[];
  spiffeId: SpiffeId;
  /**
   * The certificate's serial number in lowercase hex, read back from the DER INTEGER written into it:
   * what `openssl x509 -serial` and X509Certificate.serialNumber show (no leading zero bytes).
   */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface X509CaContext {
  signer: X509HsmSigner;
  /** Signs the CA certificate instead of the CA key itself (the CA is then an intermediate). */
  upstream?: UpstreamAuthority;
  trustDomain: TrustDomain;
  clock: Clock;
  random: RandomSource;
}

const OID = {
  basicConstraints: oid("2.5.29.19"),
  keyUsage: oid("2.5.29.15"),
  extKeyUsage: oid("2.5.29.37"),
  subjectKeyIdentifier: oid("2.5.29.14"),
  authorityKeyIdentifier: oid("2.5.29.35"),
  subjectAltName: oid("2.5.29.17"),
  organizationName: oid("2.5.4.10"),
  commonName: oid("2.5.4.3"),
  serverAuth: oid("1.3.6.1.5.5.7.3.1"),
  clientAuth: oid("1.3.6.1.5.5.7.3.2"),
};
const VERSION_3 = explicit(0, tlv(TAG.integer, Buffer.from([2])));
/** digitalSignature (bit 0). */
const DIGITAL_SIGNATURE = extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7));
/** digitalSignature | keyEncipherment (bits 0, 2). */
const DIGITAL_SIGNATURE_KEY_ENCIPHERMENT = extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5));
/**
 * An SVID's key usage by what its key can do (the SPIFFE X509-SVID spec requires digitalSignature and
 * permits keyEncipherment and keyAgreement). EC: digitalSignature only; RFC 8813 forbids keyEncipherment
 * for EC keys, and keyAgreement would serve only static ECDH, which TLS 1.3 dropped. RSA: also
 * keyEncipherment, for TLS 1.2 RSA key transport. Ed25519 signs only (RFC 8410 5).
 */
const SVID_KEY_USAGE: Record<SvidKeyType, Buffer> = {
  "ec-p256": DIGITAL_SIGNATURE,
  "ec-p384": DIGITAL_SIGNATURE,
  "rsa-2048": DIGITAL_SIGNATURE_KEY_ENCIPHERMENT,
  "rsa-3072": DIGITAL_SIGNATURE_KEY_ENCIPHERMENT,
  "rsa-4096": DIGITAL_SIGNATURE_KEY_ENCIPHERMENT,
  ed25519: DIGITAL_SIGNATURE,
};
/** keyCertSign | cRLSign (bits 5, 6). */
const CA_KEY_USAGE = extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1));
const SVID_BASIC_CONSTRAINTS = extension(OID.basicConstraints, true, seq());
const CA_BASIC_CONSTRAINTS = extension(
  OID.basicConstraints,
  true,
  seq(tlv(TAG.boolean, Buffer.from([0xff]))),
);
const SVID_EXT_KEY_USAGE = extension(OID.extKeyUsage, false, seq(OID.serverAuth, OID.clientAuth));
/** O=hallmark: the SVIDs' whole subject, and the first RDN of the CA's name. */
const HALLMARK_ORG_RDN = tlv(
  TAG.set,
  seq(OID.organizationName, tlv(TAG.utf8String, Buffer.from("hallmark"))),
);
const SVID_SUBJECT = seq(HALLMARK_ORG_RDN);
const DNS_NAME =
  /^(?=.{1,253}$)(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * An X.509 CA whose key is on the token. What is the same for every SVID it signs (issuer name, AKI,
 * algorithm, constant extensions) is encoded once; per SVID only serial, validity, key, SKI and SANs are.
 */
export class X509Ca {
  readonly certificate: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signer: X509HsmSigner;
  readonly trustDomain: TrustDomain;
  readonly intermediates: Buffer[];
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #issuer: Buffer;
  /** What comes after the key usage in every SVID's extensions: extended key usage and the AKI. */
  readonly #svidConstantExtensions: Buffer;

  private constructor(context: X509CaContext, certificate: Buffer) {
    this.signer = context.signer;
    this.trustDomain = context.trustDomain;
    this.#clock = context.clock;
    this.#random = context.random;
    this.certificate = certificate;
    this.intermediates = context.upstream === undefined ? [] : [certificate, ...context.upstream.chain];
    const parsed = new X509Certificate(certificate);
    if (!parsed.publicKey.equals(context.signer.key.publicKey)) {
      throw new IssuanceError(
        "CA_KEY_MISMATCH",
        `the CA certificate's public key is not that of token key "${context.signer.key.id}"`,
        {
          category: "failed_precondition",
        },
      );
    }
    // A journal from another trust domain (or a copied data dir) must not sign SVIDs for this one.
    const caId = certificateSpiffeId(validateX509SvidSigningCertificate(certificate));
    if (caId?.toString() !== context.trustDomain.id.toString()) {
      throw new IssuanceError(
        "CA_WRONG_TRUST_DOMAIN",
        `the CA certificate of token key "${context.signer.key.id}" is for ${caId?.toString() ?? "no SPIFFE ID"}, not the configured trust domain ${context.trustDomain.id.toString()}`,
        { category: "failed_precondition" },
      );
    }
    this.notBefore = new Date(parsed.validFrom);
    this.notAfter = new Date(parsed.validTo);
    this.#issuer = certificateSubject(certificate);
    const authorityKeyId = seq(tlv(0x80, keyIdentifier(context.signer.key.spki)));
    this.#svidConstantExtensions = Buffer.concat([
      SVID_EXT_KEY_USAGE,
      extension(OID.authorityKeyIdentifier, false, authorityKeyId),
    ]);
  }

  /** Uses an existing CA certificate (from the key journal after a restart) with its key on the token. */
  static fromCertificate(context: X509CaContext, certificate: Buffer): X509Ca {
    return new X509Ca(context, certificate);
  }

  /**
   * Makes the CA certificate for the token key: CA true, keyCertSign and cRLSign, URI SAN
   * `spiffe://<trust domain>`. Self-signed (a root for the bundle), or signed by `context.upstream` and then
   * ending no later than the upstream certificate; an upstream with less than half of `ttlMs` left is
   * refused (UPSTREAM_EXPIRING), so CA lifetimes never silently shrink. The key id is in the common name so
   * that successive CA certificates are told apart.
   */
  static async create(
    context: X509CaContext,
    ttlMs: number = DEFAULT_CA_TTL_MS,
    options: KeyOperationOptions = {},
  ): Promise<X509Ca> {
    throwIfAborted(options.signal, "making a CA certificate");
    const now = context.clock.nowMs();
    const { signer, upstream } = context;
    const key = signer.key;
    upstream?.checkCanSignCa(now, ttlMs);
    const name = seq(
      HALLMARK_ORG_RDN,
      tlv(
        TAG.set,
        seq(
          OID.commonName,
          tlv(TAG.utf8String, Buffer.from(`hallmark CA ${context.trustDomain.name} ${key.id}`)),
        ),
      ),
    );
    const ski = keyIdentifier(key.spki);
    const extensions = seq(
      CA_BASIC_CONSTRAINTS,
      CA_KEY_USAGE,
      extension(OID.subjectKeyIdentifier, false, octetString(ski)),
      extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, upstream?.keyIdentifier ?? ski))),
      extension(
        OID.subjectAltName,
        false,
        seq(tlv(0x86, Buffer.from(context.trustDomain.id.toString(), "utf8"))),
      ),
    );
    const algorithm = upstream?.algorithmIdentifier ?? signer.algorithmIdentifier;
    const notAfter = Math.min(now + ttlMs, upstream?.notAfterMs ?? Infinity);
    const tbs = seq(
      VERSION_3,
      randomSerial(context.random).der,
      algorithm,
      upstream?.subject ?? name,
      seq(time(now - BACKDATE_MS), time(notAfter)),
      name,
      key.spki,
      explicit(3, extensions),
    );
    const signature = upstream === undefined ? await signer.sign(tbs, options) : upstream.sign(tbs);
    return new X509Ca(context, seq(tbs, algorithm, bitString(signature)));
  }

  /**
   * Issues an X.509-SVID exactly as the SPIFFE X509-SVID specification describes it. `options.signal`:
   * the caller's deadline, checked first and passed on to the key store.
   */
  async issue(request: X509SvidRequest, options: KeyOperationOptions = {}): Promise<IssuedX509Svid> {
    throwIfAborted(options.signal, "issuing an X.509-SVID");
    const { spiffeId } = request;
    const ttlMs = request.ttlMs ?? DEFAULT_X509_SVID_TTL_MS;
    checkSvidRequest(spiffeId, this.trustDomain, ttlMs);
    // The clock is read before anything is awaited: CaManager records the same bound, synchronously, to know
    // how long this CA must stay in the bundle.
    const now = this.#clock.nowMs();
    const caEnd = this.notAfter.getTime();
    if (now >= caEnd)
      throw new IssuanceError("CA_EXPIRED", `the CA certificate expired at ${this.notAfter.toISOString()}`, {
        category: "failed_precondition",
      });
    // Whole seconds: X.509 times carry no fractions, and the reported NotAfter must be the certificate's.
    const notBefore = Math.floor((now - BACKDATE_MS) / 1000) * 1000;
    const notAfter = Math.floor(Math.min(now + ttlMs, caEnd) / 1000) * 1000;
    const spki = "csr" in request ? (await verifyCsr(request.csr)).spki : svidPublicKey(request.publicKey);
    const sans = [tlv(0x86, Buffer.from(spiffeId.toString(), "utf8"))];
    for (const dns of request.dnsNames ?? []) {
      if (!DNS_NAME.test(dns))
        throw new IssuanceError("SVID_BAD_DNS_NAME", `"${dns}" is not a valid DNS name`, {
          category: "invalid_argument",
        });
      sans.push(tlv(0x82, Buffer.from(dns, "latin1")));
    }
    for (const ip of request.ipAddresses ?? []) sans.push(tlv(0x87, ipAddressBytes(ip)));
    const serial = randomSerial(this.#random);
    const tbs = seq(
      VERSION_3,
      serial.der,
      this.signer.algorithmIdentifier,
      this.#issuer,
      seq(time(notBefore), time(notAfter)),
      SVID_SUBJECT,
      spki.der,
      explicit(
        3,
        seq(
          SVID_BASIC_CONSTRAINTS,
          SVID_KEY_USAGE[spki.type],
          this.#svidConstantExtensions,
          extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifierOf(spki.keyBits))),
          extension(OID.subjectAltName, false, seq(...sans)),
        ),
      ),
    );
    const signature = await this.signer.sign(tbs, options);
    return {
      certificate: seq(tbs, this.signer.algorithmIdentifier, bitString(signature)),
      caCertificate: this.certificate,
      intermediates: this.intermediates,
      spiffeId,
      serial: serial.hex,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
    };
  }
}

/**
 * A random positive serial of up to 128 bits (RFC 5280 4.1.2.2): the DER INTEGER written into the
 * certificate, and its hex read back from those very bytes, so the two can never disagree (leading zero
 * bytes are not part of the number; a sign byte before a set top bit is not either).
 */
function randomSerial(random: RandomSource): { der: Buffer; hex: string } {
  // Zero is not a positive serial: 16 zero bytes happen once in 2^128 draws, twice only from a broken source.
  for (let attempt = 0; attempt < 2; attempt++) {
    const der = unsignedInteger(random.bytes(16));
    const value = new DerReader(der, "serial").read(TAG.integer, "serialNumber").value;
    const hex = integerMagnitude(value).toString("hex");
    if (hex !== "00") return { der, hex };
  }
  throw new IssuanceError("CA_RANDOM_FAILED", "the random source returned only zero bytes for a serial");
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes. */
function keyIdentifierOf(keyBits: Buffer): Buffer {
  return createHash("sha1").update(keyBits).digest();
}

function keyIdentifier(spki: Buffer): Buffer {
  return keyIdentifierOf(parseSvidSpki(spki).keyBits);
}

/** The SVID key given as DER SPKI or KeyObject. */
function svidPublicKey(publicKey: Buffer | KeyObject): ParsedSpki {
  if (Buffer.isBuffer(publicKey)) return parseSvidSpki(publicKey);
  if (publicKey.type !== "public")
    throw new IssuanceError("SVID_BAD_PUBLIC_KEY", "a public key is needed, not a private or secret key", {
      category: "invalid_argument",
    });
  return parseSvidSpki(publicKey.export({ format: "der", type: "spki" }));
}

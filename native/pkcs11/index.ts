export {
  Pkcs11KeyManager,
  type Pkcs11Config,
  type OpenOptions,
  type HsmKey,
  type GenerateKeyRequest,
  type CallOptions,
} from "./key-manager.js";
export { Pkcs11Module } from "./module.js";
export { Pkcs11Error, mapPkcs11Error, type Pkcs11ErrorCode } from "./errors.js";
export { readPin, type PinSource } from "./pin.js";
export {
  KEY_TYPES,
  isKeyType,
  defaultScheme,
  hashOf,
  keyTypeOfPublicKey,
  type KeyType,
  type SignatureScheme,
} from "./key-spec.js";

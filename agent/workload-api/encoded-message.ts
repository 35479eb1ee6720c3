import type { ServiceDefinition } from "@grpc/grpc-js";

/**
 * A response already in its wire form. Every open stream whose caller holds the same identities
 * gets the same message: it is encoded once and its bytes shared, so a burst of 1,000 clients (or a
 * rotation reaching 1,000 streams) encodes it once rather than 1,000 times.
 */
export class EncodedMessage<Res = unknown> {
  /** Which message type the bytes encode (types only). */
  declare readonly encodes?: Res;
  constructor(readonly bytes: Buffer) {}
}

/**
 * `service` with each response serializer taking an EncodedMessage as it is. Handlers write either
 * form; what reaches the wire is the same bytes the generated encoder makes.
 */
export function acceptingEncoded<S extends ServiceDefinition>(service: S): S {
  const methods: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize;
    methods[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer =>
        value instanceof EncodedMessage ? value.bytes : serialize(value),
    };
  }
  return methods as S;
}

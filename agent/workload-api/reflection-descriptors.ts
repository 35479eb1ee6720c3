import type {
  AnyDefinition,
  EnumTypeDefinition,
  MessageTypeDefinition,
  PackageDefinition,
} from "@grpc/proto-loader";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

/**
 * The file each package's definitions are described under. proto-loader (protobufjs) regroups
 * definitions by package and names the groups after it (`root.proto` for no package,
 * `google_protobuf.proto`).
 */
const FILE_OF_PACKAGE: Readonly<Record<string, string>> = {
  "": "workload.proto",
  "grpc.health.v1": "health.proto",
  "google.protobuf": "google/protobuf/struct.proto",
};

/**
 * The file descriptors of a proto-loader package definition, repaired into what protoc would have
 * written, because reflection clients build their descriptors from them and refuse (grpcurl via Go's
 * protodesc, @bufbuild/protobuf's registry) what protobufjs emits:
 *
 * - the files get their real names and their imports (protobufjs declares none);
 * - type references become fully qualified (`.X509SVID`; protobufjs writes them relative);
 * - map entry types get protoc's name, `<FieldInCamelCase>Entry` (protobufjs: `Federated_bundles`);
 * - every field gets its `json_name`;
 * - the well-known types protobufjs bundles (google.protobuf.Struct, Value) get back their fields'
 *   snake_case names (protobufjs bundles them camelCased).
 */
export function repairedFileDescriptors(definition: PackageDefinition): Buffer[] {
  const files = new Map<string, FileDescriptorProto>();
  for (const value of Object.values(definition)) {
    if (!isTypeDefinition(value)) continue;
    for (const bytes of value.fileDescriptorProtos) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      files.set(file.name, file);
    }
  }
  const declaredIn = new Map<string, string>();
  for (const file of files.values()) {
    file.name = FILE_OF_PACKAGE[file.package] ?? file.name;
    const scope = file.package === "" ? "" : `.${file.package}`;
    for (const message of file.messageType) {
      repairMessage(message, file.package === "google.protobuf");
      declare(message, scope, file.name, declaredIn);
    }
    for (const e of file.enumType) declaredIn.set(`${scope}.${e.name}`, file.name);
  }
  return [...files.values()].map((file) => {
    const scope = file.package === "" ? "" : `.${file.package}`;
    const imports = new Set<string>();
    const resolve = (name: string, within: string): string => {
      const qualified = qualify(name, within, declaredIn);
      const from = declaredIn.get(qualified);
      if (from !== undefined && from !== file.name) imports.add(from);
      return qualified;
    };
    const visit = (message: DescriptorProto, within: string): void => {
      const name = `${within}.${message.name}`;
      for (const field of message.field)
        if (field.typeName !== "") field.typeName = resolve(field.typeName, name);
      for (const nested of message.nestedType) visit(nested, name);
    };
    for (const message of file.messageType) visit(message, scope);
    for (const service of file.service) {
      for (const method of service.method) {
        method.inputType = resolve(method.inputType, scope);
        method.outputType = resolve(method.outputType, scope);
      }
    }
    file.dependency = [...imports].sort();
    return Buffer.from(toBinary(FileDescriptorProtoSchema, file));
  });
}

/** Messages and enums carry their files' descriptors; services do not. */
export function isTypeDefinition(value: AnyDefinition): value is MessageTypeDefinition | EnumTypeDefinition {
  return typeof (value as { format?: unknown }).format === "string";
}

function repairMessage(message: DescriptorProto, snakeCaseFields: boolean): void {
  for (const field of message.field) {
    if (snakeCaseFields) field.name = field.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (field.jsonName === "") field.jsonName = jsonName(field.name);
  }
  for (const nested of message.nestedType) {
    if (nested.options?.mapEntry !== true) continue;
    const field = message.field.find((f) => f.typeName === nested.name);
    if (field !== undefined) renameMapEntry(nested, field);
  }
  for (const nested of message.nestedType) repairMessage(nested, snakeCaseFields);
}

/** protoc's name for a map field's entry type: the field name in CamelCase, then `Entry`. */
function renameMapEntry(entry: DescriptorProto, field: FieldDescriptorProto): void {
  const camel = jsonName(field.name);
  entry.name = `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
  field.typeName = entry.name;
}

/** protoc's json_name: underscores dropped, the letter after each one upper-cased. */
function jsonName(name: string): string {
  return name.replace(/_+([a-z0-9]?)/g, (_m, c: string) => c.toUpperCase());
}

function declare(message: DescriptorProto, scope: string, file: string, into: Map<string, string>): void {
  const name = `${scope}.${message.name}`;
  into.set(name, file);
  for (const nested of message.nestedType) declare(nested, name, file, into);
  for (const e of message.enumType) into.set(`${name}.${e.name}`, file);
}

/** A type reference resolved as protoc does: from the innermost scope outwards; kept as is if unknown. */
function qualify(name: string, within: string, declared: ReadonlyMap<string, string>): string {
  if (name.startsWith(".")) return name;
  for (let scope = within; ; scope = scope.slice(0, Math.max(0, scope.lastIndexOf(".")))) {
    const candidate = `${scope}.${name}`;
    if (declared.has(candidate)) return candidate;
    if (scope === "") return `.${name}`;
  }
}

import type { Server, ServerDuplexStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  loadSync,
  type AnyDefinition,
  type EnumTypeDefinition,
  type MessageTypeDefinition,
  type PackageDefinition,
} from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { SERVED_PROTO_FILES } from "./proto-files.js";

/**
 * The file each package's definitions are described under. proto-loader regroups definitions by
 * package and names the groups after it (`root.proto` for no package, `google_protobuf.proto`), with
 * no imports between them; reflection clients (grpcurl, grpc-go's reflection client) resolve types
 * through the declared imports, so the files are given back their real names and imports here.
 */
const FILE_OF_PACKAGE: Readonly<Record<string, string>> = {
  "": "workload.proto",
  "grpc.health.v1": "health.proto",
  "google.protobuf": "google/protobuf/struct.proto",
};

/**
 * Adds gRPC server reflection (v1 and v1alpha, @grpc/reflection) describing the Workload API and
 * the health service, so `grpcurl -unix <socket> list` and `describe` work against the agent.
 */
export function addReflection(server: Pick<Server, "addService">, protoDir: string): void {
  const definition = describedPackageDefinition(protoDir);
  const packageless = new Set(Object.keys(definition).filter((name) => !name.includes(".")));
  new ReflectionService(definition).addToServer({
    addService: (service, implementation: UntypedServiceImplementation) =>
      server.addService(service, withPackagelessNames(implementation, packageless)),
  });
}

/** proto-loader's definition of the served files, each file descriptor renamed and given its imports. */
export function describedPackageDefinition(protoDir: string): PackageDefinition {
  const definition = loadSync([...SERVED_PROTO_FILES], { includeDirs: [protoDir] });
  const files = new Map<string, FileDescriptorProto>();
  for (const value of Object.values(definition)) {
    if (!isTypeDefinition(value)) continue;
    for (const bytes of value.fileDescriptorProtos) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      file.name = FILE_OF_PACKAGE[file.package] ?? file.name;
      files.set(file.name, file);
    }
  }
  const declaredIn = new Map<string, string>();
  for (const file of files.values()) {
    const prefix = file.package === "" ? "" : `.${file.package}`;
    for (const message of file.messageType) declare(message, prefix, file.name, declaredIn);
    for (const e of file.enumType) declaredIn.set(`${prefix}.${e.name}`, file.name);
  }
  const described = [...files.values()].map((file) => {
    const imports = new Set<string>();
    for (const type of referencedTypes(file)) {
      const from = declaredIn.get(type);
      if (from !== undefined && from !== file.name) imports.add(from);
    }
    file.dependency = [...imports].sort();
    return Buffer.from(toBinary(FileDescriptorProtoSchema, file));
  });
  const out: PackageDefinition = {};
  for (const [name, value] of Object.entries(definition)) {
    out[name] = isTypeDefinition(value) ? { ...value, fileDescriptorProtos: described } : value;
  }
  return out;
}

/** Messages and enums carry their files' descriptors; services do not. */
function isTypeDefinition(value: AnyDefinition): value is MessageTypeDefinition | EnumTypeDefinition {
  return typeof (value as { format?: unknown }).format === "string";
}

function declare(message: DescriptorProto, prefix: string, file: string, into: Map<string, string>): void {
  const name = `${prefix}.${message.name}`;
  into.set(name, file);
  for (const nested of message.nestedType) declare(nested, name, file, into);
  for (const e of message.enumType) into.set(`${name}.${e.name}`, file);
}

function referencedTypes(file: FileDescriptorProto): Set<string> {
  const types = new Set<string>();
  const visit = (message: DescriptorProto): void => {
    for (const field of message.field) if (field.typeName !== "") types.add(field.typeName);
    message.nestedType.forEach(visit);
  };
  file.messageType.forEach(visit);
  for (const service of file.service) {
    for (const method of service.method) {
      types.add(method.inputType);
      types.add(method.outputType);
    }
  }
  return types;
}

interface ReflectionRequest {
  fileContainingSymbol?: string;
}

interface ReflectionResponse {
  originalRequest?: unknown;
  listServicesResponse?: { service?: { name?: string }[] };
}

/**
 * @grpc/reflection 1.0.4 files the symbols of a file without a package under a leading dot
 * (`.SpiffeWorkloadAPI`): it lists the service so, and answers "Symbol not found" for
 * `SpiffeWorkloadAPI`, the name every client asks for. Each reflection stream is handed to it through
 * a view that adds the dot to such a symbol on the way in, and takes it off listed names on the way
 * out (the echoed request is the client's own).
 */
function withPackagelessNames(
  implementation: UntypedServiceImplementation,
  packageless: ReadonlySet<string>,
): UntypedServiceImplementation {
  const adapted: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    adapted[method] = ((stream: ServerDuplexStream<ReflectionRequest, ReflectionResponse>) =>
      (handler as (s: typeof stream) => void)(packagelessView(stream, packageless))) as typeof handler;
  }
  return adapted;
}

function packagelessView(
  stream: ServerDuplexStream<ReflectionRequest, ReflectionResponse>,
  packageless: ReadonlySet<string>,
): ServerDuplexStream<ReflectionRequest, ReflectionResponse> {
  const original = new WeakMap<object, ReflectionRequest>();
  const inward = (request: ReflectionRequest): ReflectionRequest => {
    const symbol = request.fileContainingSymbol;
    if (symbol === undefined || symbol.startsWith(".")) return request;
    if (!packageless.has(symbol.split(".")[0] ?? "")) return request;
    const rewritten = { ...request, fileContainingSymbol: `.${symbol}` };
    original.set(rewritten, request);
    return rewritten;
  };
  const outward = (response: ReflectionResponse): ReflectionResponse => {
    const asked = response.originalRequest;
    const services = response.listServicesResponse?.service;
    return {
      ...response,
      ...(typeof asked === "object" && asked !== null && original.has(asked)
        ? { originalRequest: original.get(asked) }
        : {}),
      ...(services === undefined
        ? {}
        : {
            listServicesResponse: {
              ...response.listServicesResponse,
              service: services.map((s) => ({ ...s, name: s.name?.replace(/^\./, "") })),
            },
          }),
    };
  };
  return new Proxy(stream, {
    get(target, property) {
      if (property === "on") {
        return (event: string, listener: (...args: unknown[]) => void) => {
          if (event === "data") target.on("data", (request: ReflectionRequest) => listener(inward(request)));
          else target.on(event, listener);
          return target;
        };
      }
      if (property === "write") return (response: ReflectionResponse) => target.write(outward(response));
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

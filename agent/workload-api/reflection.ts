import type { Server, ServerDuplexStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { SERVED_PROTO_FILES } from "./proto-files.js";
import { isTypeDefinition, repairedFileDescriptors } from "./reflection-descriptors.js";

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

/** proto-loader's definition of the served files, with file descriptors a reflection client accepts. */
export function describedPackageDefinition(protoDir: string): PackageDefinition {
  // keepCase: the descriptors carry the fields' own names (spiffe_id), as the .proto files spell them.
  const definition = loadSync([...SERVED_PROTO_FILES], { includeDirs: [protoDir], keepCase: true });
  const described = repairedFileDescriptors(definition);
  const out: PackageDefinition = {};
  for (const [name, value] of Object.entries(definition)) {
    out[name] = isTypeDefinition(value) ? { ...value, fileDescriptorProtos: described } : value;
  }
  return out;
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

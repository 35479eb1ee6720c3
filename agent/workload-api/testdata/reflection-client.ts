// A gRPC server reflection client (v1 or v1alpha) built from the reflection protocol's own .proto,
// and the descriptors it receives resolved the way grpcurl resolves them: by file name, import by
// import, so a file that uses a type without importing its file fails here as it would there.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { credentials, loadPackageDefinition, type ClientDuplexStream } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";

export type ReflectionVersion = "v1" | "v1alpha";

export interface ReflectionAnswer {
  originalRequest?: { fileContainingSymbol?: string };
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type ReflectionStream = ClientDuplexStream<object, ReflectionAnswer>;
type ReflectionClient = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => { ServerReflectionInfo(): ReflectionStream; close(): void };

/** Sends each request on one reflection stream and returns the answers, in order. */
export async function reflect(
  socketPath: string,
  version: ReflectionVersion,
  requests: object[],
): Promise<ReflectionAnswer[]> {
  const protoRoot = join(
    dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json")),
    "build/proto",
  );
  const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [protoRoot],
    keepCase: false,
    oneofs: true,
  });
  const grpcObject = loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<ReflectionVersion, { ServerReflection: ReflectionClient }> };
  };
  const Client = grpcObject.grpc.reflection[version].ServerReflection;
  const client = new Client(`unix:${socketPath}`, credentials.createInsecure());
  try {
    const stream = client.ServerReflectionInfo();
    const answers: ReflectionAnswer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (answer: ReflectionAnswer) => answers.push(answer));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    for (const request of requests) stream.write(request);
    stream.end();
    await done;
    return answers;
  } finally {
    client.close();
  }
}

/** The files of one answer in a registry, the first file's imports resolved by name among the others. */
export function registryOf(answer: ReflectionAnswer): { first: FileDescriptorProto; registry: FileRegistry } {
  const files = (answer.fileDescriptorResponse?.fileDescriptorProto ?? []).map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
  const first = files[0];
  if (first === undefined) throw new Error(`no descriptors: ${JSON.stringify(answer.errorResponse)}`);
  const byName = new Map(files.map((f) => [f.name, f]));
  return { first, registry: createFileRegistry(first, (name) => byName.get(name)) };
}

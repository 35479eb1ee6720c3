# hallmark: one image with both binaries, hallmark-server and hallmark-agent.
#
#   docker build -t hallmark:0.1.0 .
#   docker run ... hallmark:0.1.0 server run --config /etc/hallmark/server.yaml
#   docker run ... hallmark:0.1.0 agent run --config /etc/hallmark/agent.yaml
#
# The full run lines (volumes, the HSM's PKCS#11 module, the TPM device, the host PID namespace) and
# why each part is there: docs/running.md.

# ---- build: compilers for the native modules (better-sqlite3, pkcs11js, koffi), the TypeScript build
FROM node:20-bookworm AS build
WORKDIR /opt/hallmark
# The lock file alone first, so a source change does not redo npm ci. node:20-bookworm carries
# python3, make and g++, which node-gyp needs.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# tsconfig.json compiles these folders together (test/ and scripts/bench/ included: some sources
# import test fixtures), so all of them are needed for the build; the tests are dropped after it.
COPY tsconfig.json ./
COPY proto ./proto
COPY common ./common
COPY native ./native
COPY attestors ./attestors
COPY server ./server
COPY agent ./agent
COPY test ./test
COPY provision ./provision
COPY pep ./pep
COPY scripts ./scripts
RUN npm run build \
  && rm -rf dist/test dist/scripts \
  && find dist \( -name '*.test.js' -o -name '*.test.js.map' \) -delete \
  && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: node and what hallmark loads at run time, no compilers, no tpm2-tools
FROM node:20-bookworm-slim AS runtime
# A fixed UID/GID, so that files on a host volume or a secret mounted in can be owned by it.
RUN groupadd --system --gid 10001 hallmark \
  && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/hallmark --no-create-home \
    --shell /usr/sbin/nologin hallmark \
  && mkdir -p /etc/hallmark /var/lib/hallmark /run/hallmark \
  && chown 10001:10001 /var/lib/hallmark /run/hallmark \
  && chmod 0700 /var/lib/hallmark
WORKDIR /opt/hallmark
# package.json says the compiled modules are ES modules and carries the version --version prints;
# the Workload API's server reflection reads the two .proto files it serves.
COPY --from=build /opt/hallmark/package.json ./package.json
COPY --from=build /opt/hallmark/node_modules ./node_modules
COPY --from=build /opt/hallmark/dist ./dist
COPY --from=build /opt/hallmark/proto/workload.proto /opt/hallmark/proto/health.proto ./proto/
COPY packaging/docker/entrypoint.sh /usr/local/bin/hallmark-entrypoint
# The bin scripts' own shebangs start node (the agent's with its V8 flags, docs/agent.md "Memory").
RUN ln -s /opt/hallmark/dist/server/cli/main.js /usr/local/bin/hallmark-server \
  && ln -s /opt/hallmark/dist/agent/cli/main.js /usr/local/bin/hallmark-agent
# The server runs as this user; the agent's run line overrides it (--user 0, see docs/running.md).
USER 10001:10001
# The node API (agents connect here).
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/hallmark-entrypoint"]
CMD ["server", "run", "--config", "/etc/hallmark/server.yaml"]

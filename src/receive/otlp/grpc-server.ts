/**
 * OTLP/gRPC: opentelemetry.proto.collector.trace.v1.TraceService/Export on @grpc/grpc-js. Messages stay
 * raw bytes (identity (de)serializers) because validation walks the wire format itself; grpc-js
 * enforces the size limit (RESOURCE_EXHAUSTED, before the handler runs: an interceptor counts it) and
 * inflates gzip.
 */
import * as grpc from '@grpc/grpc-js';
import { countRefused, handleExport, type HandlerDeps } from './export-handler.ts';
import { exportResponseProtobuf, statusProtobuf } from './responses.ts';

const SHUTDOWN_GRACE_MS = 10_000;

const identity = (b: Buffer): Buffer => b;

const traceService: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export interface GrpcConfig {
  endpoint: string;
  max_recv_msg_size_mib: number;
}

export class OtlpGrpcServer {
  private readonly server: grpc.Server;
  private readonly config: GrpcConfig;
  private readonly deps: HandlerDeps;
  private address: string | null = null;

  constructor(config: GrpcConfig, deps: HandlerDeps) {
    this.config = config;
    this.deps = deps;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': Math.floor(config.max_recv_msg_size_mib * 1024 * 1024),
      interceptors: [(_method, call) => this.countSizeRefusals(call)],
    });
    this.server.addService(traceService, { Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => this.export(call, cb) });
  }

  boundAddress(): string | null {
    return this.address;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(this.config.endpoint, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) return reject(err);
        this.address = this.config.endpoint.replace(/:\d+$/, `:${port}`);
        resolve();
      });
    });
  }

  /** Stops accepting calls and waits for running ones, forcing them closed after a grace period. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.forceShutdown(), SHUTDOWN_GRACE_MS);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * grpc-js refuses a message over max_receive_message_length (or one that inflates past it) with
   * RESOURCE_EXHAUSTED from the call it hands the first interceptor, without running the handler or
   * the interceptor chain; watching that call's sendStatus is the one place to see it. Statuses the
   * handler sends come through the chain (the responder below) and are counted by handleExport.
   */
  private countSizeRefusals(call: grpc.ServerInterceptingCallInterface): grpc.ServerInterceptingCall {
    let fromHandler = false;
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (!fromHandler && status.code === grpc.status.RESOURCE_EXHAUSTED) countRefused(this.deps, 'grpc', 'too_large', 0);
      sendStatus(status);
    };
    return new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        fromHandler = true;
        next(status);
      },
    });
  }

  private export(call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void {
    handleExport(call.request, 'grpc', this.deps).then(
      (result) => {
        if (result.ok) return cb(null, Buffer.from(exportResponseProtobuf(result.rejected, result.rejectionMessage)));
        const metadata = new grpc.Metadata();
        metadata.set('grpc-status-details-bin', Buffer.from(statusProtobuf(result.grpcCode, result.message, result.retryAfterMs)));
        cb({ code: result.grpcCode, details: result.message, metadata });
      },
      (err: unknown) => {
        this.deps.logger.error({ err }, 'OTLP/gRPC export failed unexpectedly');
        cb({ code: grpc.status.INTERNAL, details: 'internal error' });
      },
    );
  }
}

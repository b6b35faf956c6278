import { resolve } from 'node:path';
import type { StorageConfig } from '../config/schema.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { LocalFileIO, toFileUri } from './file-io.ts';
import { RoutingFileIO } from './file-io-router.ts';
import { isS3Uri, S3FileIO, s3OptionsFromConfig } from './s3-file-io.ts';

/**
 * The FileIO for the storage config: local files, plus S3 (from `storage.s3`) for `s3://`/`s3a://`
 * URIs. The S3 client is only made when an S3 URI is first used.
 */
export function createFileIO(config: Pick<StorageConfig, 's3'>, deps: { metrics?: Metrics } = {}): RoutingFileIO {
  const options = s3OptionsFromConfig(config.s3);
  return new RoutingFileIO({
    local: new LocalFileIO(),
    s3: () => new S3FileIO(options, deps.metrics ? { metrics: deps.metrics } : {}),
  });
}

/**
 * The warehouse as an absolute URI without a trailing slash: `s3://bucket/prefix` and `file:` URIs as
 * given, a plain path resolved against the working directory.
 */
export function warehouseUri(warehouse: string): string {
  if (isS3Uri(warehouse) || warehouse.startsWith('file:')) return warehouse.replace(/\/+$/, '');
  return toFileUri(resolve(process.cwd(), warehouse));
}

export { BUCKET_NS, StatsConcentrator, encodeStatsPayload, type GroupStats, type PayloadKey, type StatsPayloadData } from './concentrator.ts';
export { DurationSketch, MAX_BINS, RELATIVE_ACCURACY } from './ddsketch.ts';
export { DatadogStatsExporter, createDatadogStats, type DatadogStatsOptions } from './stats-exporter.ts';

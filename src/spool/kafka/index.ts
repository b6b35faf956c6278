export { KafkaSpool, type KafkaAssignment, type KafkaSpoolDeps } from './kafka-spool.ts';
export { kafkaSpoolSchema, type KafkaSpoolConfig } from './config.ts';
export { KafkaPositionError, KafkaSpoolError, KafkaUnavailableError, kafkaError } from './errors.ts';
export { commitRange, formatPosition, parsePosition, type KafkaPosition } from './position.ts';
export { partitionForKey } from './partitioner.ts';
export { splitByTrace, type TraceMessage } from './split.ts';

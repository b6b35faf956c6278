export { datadogExporterSchema, type DatadogExporterConfig } from './config.ts';
export { DatadogExporter, combine, intakeEndpoint, type DatadogExporterOptions } from './exporter.ts';
export { DEFAULT_SERVICE, POLICY_TAG, mapRequest, mapSpan, type DdResourceGroup, type DdSpan, type DdTrace, type MappedRequest } from './mapping.ts';
export { DECISION_MAKER, DECISION_MAKER_KEY, PRIORITY_KEY, USER_KEEP, buildAgentPayloads, buildV04Payloads, type Payload } from './payloads.ts';
export { DatadogSender, type DatadogSenderOptions } from './sender.ts';

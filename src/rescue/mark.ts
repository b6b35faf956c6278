import { CorruptPayloadError } from '../otlp/errors.ts';

/**
 * How a rescued export is marked, on every span of it: two span attributes, appended after the span's
 * own. Attributes, not tracestate: every backend indexes them (Datadog puts them in `meta`), and a
 * rescued trace of a dropped decision was not sampled with any probability, so it gets no `ot=th` and
 * keeps the tracestate it came with — consumers that extrapolate counts leave `tailsampler.rescued`
 * spans out.
 */
export const RESCUED_ATTRIBUTE = 'tailsampler.rescued';
/** The rescue's id: who asked and why are in its record (`GET /v1/rescue/{id}`) and log line. */
export const RESCUE_ID_ATTRIBUTE = 'tailsampler.rescue_id';
/** The policy name a rescued trace is exported under (Datadog's `tailsampler.policy` tag). */
export const RESCUE_POLICY = 'rescue';

/**
 * A span's attributes column (an OTLP/JSON KeyValue array, as stored) with the rescue mark appended;
 * the span's own attributes stay as they are, byte for byte.
 */
export function withRescueMark(attributes: string, rescueId: string): string {
  const text = attributes.trimEnd();
  if (!text.startsWith('[') || !text.endsWith(']')) throw new CorruptPayloadError('attributes column is not an OTLP/JSON KeyValue array');
  const mark = `{"key":${JSON.stringify(RESCUED_ATTRIBUTE)},"value":{"boolValue":true}},{"key":${JSON.stringify(RESCUE_ID_ATTRIBUTE)},"value":{"stringValue":${JSON.stringify(rescueId)}}}`;
  const inner = text.slice(1, -1);
  return inner.trim() === '' ? `[${mark}]` : `[${inner},${mark}]`;
}

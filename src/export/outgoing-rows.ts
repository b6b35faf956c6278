import type { PartialSpanColumns } from '../lake/span-schema.ts';
import { withRescueMark } from '../rescue/mark.ts';
import { withThreshold } from '../sample/tracestate.ts';

/** What a row is sent for: a kept trace (its sampling threshold) or a rescue (its job id). */
export interface RowPurpose {
  threshold: string | null;
  rescue: string | null;
}

/**
 * A file's rows as they go out: spans of kept traces with the sampling threshold in tracestate
 * (`ot=th`), rescued ones marked (src/rescue/mark.ts); rows without a purpose (another trace's, read
 * with them) unchanged. Attributes are copied only when a rescued row is among them.
 */
export function outgoingRows(cols: PartialSpanColumns, purposes: ArrayLike<RowPurpose | undefined>): PartialSpanColumns {
  const states = Array.from(cols.trace_state!);
  let attributes: string[] | null = null;
  for (let i = 0; i < cols.length; i++) {
    const p = purposes[i];
    if (p?.threshold != null) states[i] = withThreshold(states[i] ?? null, p.threshold);
    if (p?.rescue != null) {
      attributes ??= Array.from(cols.attributes!);
      attributes[i] = withRescueMark(attributes[i]!, p.rescue);
    }
  }
  return { ...cols, trace_state: states, ...(attributes !== null ? { attributes } : {}) };
}

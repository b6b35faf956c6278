/**
 * OTel consistent probability sampling arithmetic (trace API spec, "TraceState: probability
 * sampling"): a trace is kept iff its 56-bit randomness R >= the rejection threshold T, with
 * T = (1 - p) * 2^56; T travels as `th`, up to 14 hex digits with trailing zeros removed.
 */

export const MAX_THRESHOLD = 1n << 56n;

/**
 * T = 2^56 - round(p * 2^56). Computed from p * 2^56, which is exact in float64 (a power-of-two
 * scale), so the only rounding is the final one; this matches the Go reference implementation.
 * p <= 0 gives 2^56 (never kept), p >= 1 gives 0 (always kept).
 */
export function probabilityToThreshold(p: number): bigint {
  if (!(p > 0)) return MAX_THRESHOLD;
  if (p >= 1) return 0n;
  return MAX_THRESHOLD - BigInt(Math.round(p * 2 ** 56));
}

/** `th` text: 14 hex digits, trailing zeros removed; "0" for T = 0. Null for 2^56, which `th` cannot express. */
export function thresholdToHex(t: bigint): string | null {
  if (t <= 0n) return '0';
  if (t >= MAX_THRESHOLD) return null;
  return t.toString(16).padStart(14, '0').replace(/0+$/, '');
}

/** Parses a `th` value (1 to 14 hex digits, implicitly right-padded with zeros); null when malformed. */
export function thresholdFromHex(th: string): bigint | null {
  if (!/^[0-9a-f]{1,14}$/.test(th)) return null;
  return BigInt(`0x${th.padEnd(14, '0')}`);
}

/** Whether randomness `r` passes threshold `t`. */
export function keeps(r: bigint, t: bigint): boolean {
  return r >= t;
}

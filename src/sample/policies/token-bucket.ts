/**
 * Token bucket with the semantics of Go's golang.org/x/time/rate.Limiter.AllowN, which otelcol's
 * rate_limiting and bytes_limiting use: it starts full, refills continuously at `ratePerSecond` up
 * to `burst`, and a request for more than is available takes nothing. Time comes from the caller.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #lastMs: number | null = null;

  constructor(ratePerSecond: number, burst: number) {
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
  }

  allow(n: number, nowMs: number): boolean {
    if (this.#lastMs !== null) {
      // A clock that steps back refills nothing rather than draining the bucket.
      const elapsed = Math.max(0, nowMs - this.#lastMs);
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
    }
    if (this.#lastMs === null || nowMs > this.#lastMs) this.#lastMs = nowMs;
    if (n > this.#tokens) return false;
    this.#tokens -= n;
    return true;
  }
}

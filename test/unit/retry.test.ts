import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineBusyError } from '../../src/errors.ts';
import { CatalogUnavailableError, CommitConflictError } from '../../src/lake/iceberg/errors.ts';
import { backoffInterval, nextBackoff, retryWithBackoff, sleep, type BackoffPolicy } from '../../src/retry.ts';

const collector: BackoffPolicy = { initialIntervalMs: 100, maxIntervalMs: 300 };

describe('nextBackoff', () => {
  it("grows 1.5× per retry up to the cap, as the Collector's backoff", () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffInterval(collector, n)), [100, 150, 225, 300, 300]);
    assert.equal(backoffInterval(collector, 100_000), 300, 'no overflow past the cap however many retries');
  });

  it('randomises ±50% by default: the whole range is reachable and nothing outside it', () => {
    assert.equal(nextBackoff(collector, 2, () => 0), 75);
    assert.equal(nextBackoff(collector, 2, () => 0.5), 150);
    assert.ok(Math.abs(nextBackoff(collector, 2, () => 0.999999) - 225) < 0.001);
    for (let i = 0; i < 1000; i++) {
      const d = nextBackoff(collector, 3);
      assert.ok(d >= 112.5 && d < 337.5, String(d));
    }
  });

  it('takes its own multiplier and randomization (full jitter, none)', () => {
    const full: BackoffPolicy = { initialIntervalMs: 10, maxIntervalMs: 500, multiplier: 2, randomization: 1 };
    assert.deepEqual([1, 2, 3].map((n) => nextBackoff(full, n, () => 0)), [0, 0, 0]);
    assert.deepEqual([1, 2, 3, 7].map((n) => nextBackoff(full, n, () => 0.5)), [10, 20, 40, 500]);
    const none: BackoffPolicy = { initialIntervalMs: 250, maxIntervalMs: 5000, multiplier: 2, randomization: 0 };
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => nextBackoff(none, n, () => 0.9)), [250, 500, 1000, 2000, 4000, 5000]);
  });
});

describe('retryWithBackoff', () => {
  const fast: BackoffPolicy = { initialIntervalMs: 1, maxIntervalMs: 2 };

  it('retries retryable failures with the backoff and returns the first success', async () => {
    let calls = 0;
    const delays: number[] = [];
    const out = await retryWithBackoff(
      async () => {
        if (++calls < 4) throw new CommitConflictError('lost a race');
        return 'ok';
      },
      { backoff: fast, random: () => 0.5, onRetry: (_n, d) => delays.push(d) },
    );
    assert.equal(out, 'ok');
    assert.deepEqual(delays, [1, 1.5, 2]);
  });

  it('stops at maxAttempts with `exhausted` (attempts and last failure), or the last failure itself', async () => {
    let calls = 0;
    const failures: Error[] = [];
    const fail = async (): Promise<never> => {
      calls++;
      const e = new CatalogUnavailableError(`down ${calls}`);
      failures.push(e);
      throw e;
    };
    await assert.rejects(
      retryWithBackoff(fail, { backoff: fast, maxAttempts: 3, exhausted: (n, last) => new Error(`gave up after ${n}`, { cause: last }) }),
      (e: unknown) => e instanceof Error && e.message === 'gave up after 3' && e.cause === failures[2],
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(retryWithBackoff(fail, { backoff: fast, maxAttempts: 2 }), (e: unknown) => e === failures.at(-1));
    assert.equal(calls, 2);
  });

  it('throws a failure `retryable` refuses at once; by default only retryable TailsamplerErrors are retried', async () => {
    let calls = 0;
    const bug = new TypeError('bug');
    await assert.rejects(
      retryWithBackoff(async () => {
        calls++;
        throw bug;
      }, { backoff: fast, maxAttempts: 5 }),
      (e: unknown) => e === bug,
    );
    assert.equal(calls, 1);
    calls = 0;
    const out = await retryWithBackoff(
      async () => {
        if (++calls < 3) throw bug;
        return calls;
      },
      { backoff: fast, maxAttempts: 5, retryable: () => true },
    );
    assert.equal(out, 3);
  });

  it("a failure's retryAfterMs lengthens the wait, never shortens it", async () => {
    const delays: number[] = [];
    let calls = 0;
    await retryWithBackoff(
      async () => {
        calls++;
        if (calls === 1) throw new PipelineBusyError('busy', 30);
        if (calls === 2) throw new PipelineBusyError('busy', 0);
        return null;
      },
      { backoff: { initialIntervalMs: 5, maxIntervalMs: 5 }, random: () => 0.5, onRetry: (_n, d) => delays.push(d) },
    );
    assert.deepEqual(delays, [30, 5]);
  });

  it('gives up without waiting when the next wait would pass maxElapsedMs', async () => {
    const started = Date.now();
    const busy = new PipelineBusyError('busy', 60_000);
    await assert.rejects(
      retryWithBackoff(
        async () => {
          throw busy;
        },
        { backoff: fast, maxElapsedMs: 1_000 },
      ),
      (e: unknown) => e === busy,
    );
    assert.ok(Date.now() - started < 1_000, 'did not sleep the 60 s hint');
  });

  it('turns an attempt that outlives the timeout into the timeout error, and retries it if retryable', async () => {
    let calls = 0;
    const out = await retryWithBackoff(
      (signal) => {
        calls++;
        if (calls === 1) return new Promise<string>((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
        return Promise.resolve('second');
      },
      { backoff: fast, timeout: { ms: 20, error: (ms) => new CatalogUnavailableError(`timed out after ${ms} ms`) } },
    );
    assert.equal(out, 'second');
    assert.equal(calls, 2);
  });

  it('ends a wait at once with the abort reason', async () => {
    const ctl = new AbortController();
    const reason = new Error('shutdown');
    const started = Date.now();
    await assert.rejects(
      retryWithBackoff(
        async () => {
          throw new PipelineBusyError('busy', 3_600_000);
        },
        { backoff: fast, signal: ctl.signal, onRetry: () => ctl.abort(reason) },
      ),
      (e: unknown) => e === reason,
    );
    assert.ok(Date.now() - started < 1_000);
  });
});

describe('sleep', () => {
  it('waits without a signal, and rejects with the reason of an aborted one', async () => {
    const started = Date.now();
    await sleep(15);
    assert.ok(Date.now() - started >= 10);
    const reason = new Error('stop');
    await assert.rejects(sleep(10, AbortSignal.abort(reason)), (e: unknown) => e === reason);
  });
});

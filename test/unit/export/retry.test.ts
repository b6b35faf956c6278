import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runWithRetry } from '../../../src/export/retry.ts';
import { ExportRetriesExhaustedError, ExportSendError, ExportTimeoutError } from '../../../src/export/errors.ts';

const fast = { enabled: true, initial_interval_ms: 1, max_interval_ms: 2, max_elapsed_time_ms: 5_000 };

describe('runWithRetry', () => {
  it('returns the first success after retryable failures', async () => {
    let calls = 0;
    const delays: number[] = [];
    const out = await runWithRetry(
      async () => {
        calls++;
        if (calls < 4) throw new ExportSendError('503', { retryable: true });
        return 'ok';
      },
      { retry: fast, timeoutMs: 1_000, signal: new AbortController().signal, random: () => 0.5, onRetry: (_n, d) => delays.push(d) },
    );
    assert.equal(out, 'ok');
    assert.equal(calls, 4);
    // random 0.5 → no jitter: 1, 1.5, then capped at max_interval 2.
    assert.deepEqual(delays, [1, 1.5, 2]);
  });

  it('rethrows a permanent error after one attempt', async () => {
    let calls = 0;
    const permanent = new ExportSendError('400', { retryable: false });
    await assert.rejects(
      runWithRetry(async () => {
        calls++;
        throw permanent;
      }, { retry: fast, timeoutMs: 1_000, signal: new AbortController().signal }),
      (e) => e === permanent,
    );
    assert.equal(calls, 1);
  });

  it('treats errors that are not TailsamplerErrors as permanent', async () => {
    let calls = 0;
    await assert.rejects(
      runWithRetry(async () => {
        calls++;
        throw new TypeError('bug');
      }, { retry: fast, timeoutMs: 1_000, signal: new AbortController().signal }),
      TypeError,
    );
    assert.equal(calls, 1);
  });

  it('turns an attempt that outlives timeoutMs into a retryable timeout', async () => {
    await assert.rejects(
      runWithRetry((signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))), {
        retry: { ...fast, enabled: false },
        timeoutMs: 20,
        signal: new AbortController().signal,
      }),
      (e) => e instanceof ExportRetriesExhaustedError && e.cause instanceof ExportTimeoutError,
    );
  });

  it('gives up with ExportRetriesExhaustedError when the next wait would pass max_elapsed_time_ms', async () => {
    let calls = 0;
    const throttled = new ExportSendError('429', { retryable: true, retryAfterMs: 60_000 });
    const started = Date.now();
    await assert.rejects(
      runWithRetry(
        async () => {
          calls++;
          throw throttled;
        },
        { retry: { ...fast, max_elapsed_time_ms: 1_000 }, timeoutMs: 1_000, signal: new AbortController().signal },
      ),
      (e) => e instanceof ExportRetriesExhaustedError && e.cause === throttled && e.retryable && /after 1 attempts/.test(e.message),
    );
    assert.equal(calls, 1);
    assert.ok(Date.now() - started < 1_000, 'did not wait for the 60 s hint first');
  });

  it('stops at once with the abort reason when the signal fires during backoff', async () => {
    const ctl = new AbortController();
    const reason = new Error('shutdown');
    let calls = 0;
    await assert.rejects(
      runWithRetry(
        async () => {
          calls++;
          throw new ExportSendError('503', { retryable: true, retryAfterMs: 3_600_000 });
        },
        { retry: { ...fast, max_elapsed_time_ms: 0 }, timeoutMs: 1_000, signal: ctl.signal, onRetry: () => ctl.abort(reason) },
      ),
      (e) => e === reason,
    );
    assert.equal(calls, 1);
  });
});

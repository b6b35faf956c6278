import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Component } from '../component.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';

/**
 * V8 keeps the heap pages its collections free (regular and large-object pages) committed in a pool
 * until a memory-reducing collection flushes it, and under steady load none comes: the memory reducer
 * waits for a quiet moment. Measured Dec 2026 (`--trace-gc-verbose`, 15M spans pending): the pool grew
 * to ~59 MiB while the heap itself used ~64 MB, most of the service's growth in RSS. This asks V8 for
 * a memory-reducing collection (up to a few mark-compacts of a ~60 MB heap, ~65 ms) at most every
 * `intervalMs`, and only when RSS grew by `growthBytes` since the last one, so an idle service does not
 * pay for it.
 */
const FLUSH_INTERVAL_MS = 30_000;
const FLUSH_GROWTH_BYTES = 16 * 2 ** 20;

type CollectGarbage = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** V8's `gc` function without exposing it to the rest of the process, or null where V8 refuses. */
export function memoryReducingCollector(): (() => void) | null {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : null') as CollectGarbage | null;
  return gc === null ? null : () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** Whether RSS grew enough since the last flush to flush again. */
export function shouldFlush(rssNow: number, rssAfterLast: number, growthBytes: number): boolean {
  return rssNow - rssAfterLast >= growthBytes;
}

export interface PagePoolFlushOptions {
  intervalMs?: number;
  growthBytes?: number;
  /** For tests; the process's RSS and V8's collector by default. */
  rss?: () => number;
  collect?: (() => void) | null;
}

export function createPagePoolFlush(deps: { metrics: Metrics; logger: Logger }, options: PagePoolFlushOptions = {}): Component {
  const intervalMs = options.intervalMs ?? FLUSH_INTERVAL_MS;
  const growthBytes = options.growthBytes ?? FLUSH_GROWTH_BYTES;
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  let timer: NodeJS.Timeout | null = null;
  let rssAfterLast = 0;
  return {
    start() {
      const collect = options.collect === undefined ? memoryReducingCollector() : options.collect;
      if (collect === null) {
        deps.logger.warn('V8 gave no garbage collector to call: heap pages it frees stay pooled until it reduces memory by itself');
        return Promise.resolve();
      }
      rssAfterLast = rss();
      timer = setInterval(() => {
        if (!shouldFlush(rss(), rssAfterLast, growthBytes)) return;
        const end = deps.metrics.pagePoolFlushDuration.startTimer();
        collect();
        end();
        rssAfterLast = rss();
      }, intervalMs);
      timer.unref();
      return Promise.resolve();
    },
    shutdown() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      return Promise.resolve();
    },
  };
}

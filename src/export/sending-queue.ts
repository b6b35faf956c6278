/** One unit of work: `run` delivers it (never rejects), `drop` gives its result when it never ran. */
export interface QueueJob<R> {
  run(signal: AbortSignal): Promise<R>;
  drop(): R;
}

export interface SendingQueueOptions {
  /** Jobs waiting for a consumer (not counting those being sent); more producers wait. */
  capacity: number;
  /** Jobs sent at once. */
  consumers: number;
  /** Told whenever the number of waiting jobs changes (for the queue-size gauge). */
  onSizeChange?: (size: number) => void;
}

interface Entry<R> {
  job: QueueJob<R>;
  settle: (r: R) => void;
  admit: () => void;
}

/**
 * The Collector's sending_queue in memory: a bounded FIFO drained by a fixed number of consumers.
 * A producer whose job does not fit waits (back-pressure) instead of growing memory; blocked
 * producers are admitted in arrival order as consumers free slots.
 */
export class SendingQueue<R> {
  readonly #capacity: number;
  readonly #consumers: number;
  readonly #onSizeChange: (size: number) => void;
  readonly #queue: Entry<R>[] = [];
  readonly #blocked: Entry<R>[] = [];
  readonly #abort = new AbortController();
  readonly #idleWaiters: (() => void)[] = [];
  #active = 0;
  #closed = false;

  constructor(options: SendingQueueOptions) {
    this.#capacity = options.capacity;
    this.#consumers = options.consumers;
    this.#onSizeChange = options.onSizeChange ?? (() => {});
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Jobs being sent right now. */
  get inFlight(): number {
    return this.#active;
  }

  /**
   * Resolves once the job is admitted (at once when there is room, later when full); `done`
   * resolves with the job's result. The wrapper keeps the two waits apart: a bare nested promise
   * would be flattened into one.
   */
  async enqueue(job: QueueJob<R>): Promise<{ done: Promise<R> }> {
    if (this.#closed) return { done: Promise.resolve(job.drop()) };
    let settle!: (r: R) => void;
    const done = new Promise<R>((resolve) => (settle = resolve));
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const entry: Entry<R> = { job, settle, admit };
    if (this.#queue.length < this.#capacity && this.#blocked.length === 0) {
      this.#queue.push(entry);
      entry.admit();
      this.#changed();
      this.#pump();
    } else {
      this.#blocked.push(entry);
    }
    await admitted;
    return { done };
  }

  /**
   * Stops taking jobs (blocked and later producers get `drop()` at once), lets consumers send what
   * is queued for up to `drainMs`, then aborts the attempts still running and drops what never ran.
   * Resolves when no job is running any more.
   */
  async shutdown(drainMs: number): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const entry of this.#blocked.splice(0)) {
        entry.settle(entry.job.drop());
        entry.admit();
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.#idle().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), drainMs))),
    ]);
    clearTimeout(timer);
    if (drained) return;
    for (const entry of this.#queue.splice(0)) entry.settle(entry.job.drop());
    this.#changed();
    this.#abort.abort(new Error('sending queue shut down'));
    await this.#idle();
  }

  #pump(): void {
    while (this.#active < this.#consumers && this.#queue.length > 0) {
      const entry = this.#queue.shift()!;
      if (!this.#closed) {
        const next = this.#blocked.shift();
        if (next !== undefined) {
          this.#queue.push(next);
          next.admit();
        }
      }
      this.#changed();
      this.#active++;
      void this.#run(entry);
    }
  }

  async #run(entry: Entry<R>): Promise<void> {
    let result: R;
    try {
      result = await entry.job.run(this.#abort.signal);
    } catch {
      // Jobs promise never to reject; should one do so anyway, its caller still gets an answer.
      result = entry.job.drop();
    }
    this.#active--;
    entry.settle(result);
    this.#pump();
    if (this.#active === 0 && this.#queue.length === 0) {
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  #idle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #changed(): void {
    this.#onSizeChange(this.#queue.length);
  }
}

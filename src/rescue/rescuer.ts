import { randomUUID } from 'node:crypto';
import type { StatementSync } from 'node:sqlite';
import type { Component } from '../component.ts';
import type { DecisionStore } from '../evaluate/decision-store.ts';
import type { TraceLocation } from '../evaluate/trace-reader.ts';
import { TailsamplerError } from '../errors.ts';
import type { DeliveryStore } from '../export/delivery-store.ts';
import { messageOf } from '../export/errors.ts';
import type { DataFileRef, SpanTable } from '../lake/table.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { RescueConfig } from './config.ts';
import { findTraces, locateTraces, type SearchProgress } from './finder.ts';
import { parseRescueRequest, type RescueRequest } from './request.ts';

/** What a rescue hands its traces to: the emitter, which owes them to every exporter, marked. */
export interface RescueTarget {
  rescue(traces: readonly TraceLocation[], files: readonly DataFileRef[], rescueId: string): { traces: Set<string>; deliveries: number };
}

export type RescueJobState = 'queued' | 'searching' | 'done' | 'failed';
export type RescuedTraceOutcome = 'queued' | 'already_owed' | 'not_found';

/** A rescue job as the admin API shows it (snake_case JSON). */
export interface RescueJobView {
  id: string;
  state: RescueJobState;
  /** Searched, queued, and every exporter is done with every trace (delivered or dead-lettered). */
  complete: boolean;
  principal: string;
  reason: string | null;
  created_at: string;
  finished_at: string | null;
  request: Record<string, unknown>;
  progress: {
    files_total: number;
    files_scanned: number;
    /** Ids: traces located in the table; query: traces matching it. */
    traces_found: number;
    traces_queued: number;
    traces_already_owed: number;
    traces_not_found: number;
  };
  /** Per exporter and trace, from the durable delivery rows. */
  deliveries: { total: number; pending: number; delivered: number; dead_lettered: number };
  traces: { trace_id: string; outcome: RescuedTraceOutcome }[];
  error: string | null;
}

/** The stored part of a job (everything but the live delivery counts). */
type JobRecord = Omit<RescueJobView, 'complete' | 'deliveries'> & { deliveries_total: number };

interface Job {
  record: JobRecord;
  request: RescueRequest;
  find: SearchProgress;
  locate: SearchProgress;
  done: Promise<void>;
  resolve: () => void;
}

export class RescueJobNotFoundError extends TailsamplerError {
  constructor(id: string) {
    super('TS_RESCUE_JOB_NOT_FOUND', `no rescue job ${id}`);
    this.name = 'RescueJobNotFoundError';
  }
}

export class RescueBusyError extends TailsamplerError {
  constructor(max: number) {
    super('TS_RESCUE_BUSY', `${max} rescue jobs are searching or waiting already (rescue.max_jobs); try again once one is done`);
    this.name = 'RescueBusyError';
  }
}

export interface RescuerDeps {
  table: SpanTable;
  target: RescueTarget;
  /** The state database the deliveries live in; jobs are recorded beside them. */
  store: DecisionStore;
  deliveries: Pick<DeliveryStore, 'rescueProgress'>;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

/**
 * Rescues traces from the lake whatever their decision: finds them (by id, or by a query over the
 * files of its time range) among the table's live files and hands them to the emitter, which owes
 * them to every exporter durably, marked as rescued. One job searches at a time; jobs are recorded in
 * the state database, so their outcome outlives a restart (a search cut short by one is `failed`;
 * what it had queued is delivered all the same).
 */
export class Rescuer implements Component {
  readonly #deps: RescuerDeps;
  readonly #config: RescueConfig;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #jobs = new Map<string, Job>();
  readonly #queue: Job[] = [];
  #running: Promise<void> | null = null;
  #stopping = false;
  readonly #save: StatementSync;
  readonly #load: StatementSync;
  readonly #list: StatementSync;
  readonly #prune: StatementSync;

  constructor(config: RescueConfig, deps: RescuerDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'rescue' });
    this.#now = deps.now ?? Date.now;
    const db = deps.store.db;
    db.exec('CREATE TABLE IF NOT EXISTS rescue_jobs (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, state TEXT NOT NULL, record TEXT NOT NULL) WITHOUT ROWID');
    this.#save = db.prepare('INSERT OR REPLACE INTO rescue_jobs (id, created_at, state, record) VALUES (?, ?, ?, ?)');
    this.#load = db.prepare('SELECT record FROM rescue_jobs WHERE id = ?');
    this.#list = db.prepare('SELECT record FROM rescue_jobs ORDER BY created_at DESC, id LIMIT ?');
    this.#prune = db.prepare("DELETE FROM rescue_jobs WHERE state IN ('done', 'failed') AND id NOT IN (SELECT id FROM rescue_jobs ORDER BY created_at DESC LIMIT ?)");
  }

  /** Jobs a previous run left searching or waiting are recorded as failed (what they queued is still owed). */
  async start(): Promise<void> {
    const rows = this.#deps.store.db.prepare("SELECT record FROM rescue_jobs WHERE state IN ('queued', 'searching')").all() as { record: string }[];
    for (const { record } of rows) {
      const r = JSON.parse(record) as JobRecord;
      this.#persist({ ...r, state: 'failed', error: 'the service stopped before the search finished; traces it had queued are still delivered', finished_at: new Date(this.#now()).toISOString() });
    }
    if (rows.length > 0) this.#logger.warn({ jobs: rows.length }, 'rescue jobs cut short by a restart recorded as failed');
  }

  /** Stops the search under way at its next file and fails the waiting jobs. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    for (const job of this.#queue.splice(0)) this.#finish(job, 'the service stopped before the search began');
    await this.#running;
  }

  /** Validates and queues a rescue; throws RescueInvalidError (with paths) or RescueBusyError. */
  submit(body: unknown, principal: string): RescueJobView {
    const now = this.#now();
    const request = parseRescueRequest(body, this.#config, now);
    const active = this.#queue.length + (this.#running === null ? 0 : 1);
    if (active >= this.#config.max_jobs || this.#stopping) throw new RescueBusyError(this.#config.max_jobs);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const record: JobRecord = {
      id: randomUUID(),
      state: 'queued',
      principal,
      reason: request.reason,
      created_at: new Date(now).toISOString(),
      finished_at: null,
      request: requestView(request),
      progress: { files_total: 0, files_scanned: 0, traces_found: 0, traces_queued: 0, traces_already_owed: 0, traces_not_found: 0 },
      traces: [],
      error: null,
      deliveries_total: 0,
    };
    const job: Job = { record, request, find: emptyProgress(), locate: emptyProgress(), done, resolve };
    this.#jobs.set(record.id, job);
    this.#queue.push(job);
    this.#persist(record);
    this.#logger.info(
      { rescue: record.id, principal, reason: request.reason, ...(request.kind === 'ids' ? { traces: request.traceIds.length } : { query: record.request.query, limit: request.limit }) },
      'rescue requested',
    );
    this.#kick();
    return this.#view(record);
  }

  /** Resolves once the job's search is over, or after `ms`, with its view. */
  async wait(id: string, ms: number): Promise<RescueJobView> {
    const job = this.#jobs.get(id);
    if (job !== undefined && ms > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([job.done, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
    }
    return this.get(id);
  }

  /** A job's view with live search progress and delivery counts; throws RescueJobNotFoundError. */
  get(id: string): RescueJobView {
    const live = this.#jobs.get(id);
    if (live !== undefined) return this.#view(this.#withProgress(live));
    const row = this.#load.get(id) as { record: string } | undefined;
    if (row === undefined) throw new RescueJobNotFoundError(id);
    return this.#view(JSON.parse(row.record) as JobRecord);
  }

  /** The newest jobs, newest first, without their trace lists. */
  list(limit: number): RescueJobView[] {
    return (this.#list.all(limit) as { record: string }[]).map(({ record }) => {
      const r = JSON.parse(record) as JobRecord;
      const live = this.#jobs.get(r.id);
      return { ...this.#view(live === undefined ? r : this.#withProgress(live)), traces: [] };
    });
  }

  #kick(): void {
    if (this.#running !== null) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    this.#running = this.#run(job).finally(() => {
      this.#running = null;
      this.#kick();
    });
  }

  async #run(job: Job): Promise<void> {
    const { table, target, metrics } = this.#deps;
    const stop = () => this.#stopping;
    job.record.state = 'searching';
    this.#persist(job.record);
    try {
      const files = (await table.changesSince(0)).files;
      const req = job.request;
      const ids = req.kind === 'ids' ? req.traceIds : await findTraces(table, files, req.query, req.limit, job.find, stop);
      // A matching span found is not the whole trace: each is located in every live file, as an id is.
      const located = await locateTraces(table, files, ids, job.locate, stop);
      if (this.#stopping) throw new Error('the service stopped during the search');
      const { traces: taken, deliveries } = target.rescue(located.locations, located.files, job.record.id);
      const notFound = new Set(located.notFound);
      const traces = ids.map((id): { trace_id: string; outcome: RescuedTraceOutcome } => ({
        trace_id: id,
        outcome: notFound.has(id) ? 'not_found' : taken.has(id) ? 'queued' : 'already_owed',
      }));
      const count = (o: RescuedTraceOutcome) => traces.filter((t) => t.outcome === o).length;
      this.#withProgress(job);
      Object.assign(job.record.progress, { traces_queued: count('queued'), traces_already_owed: count('already_owed'), traces_not_found: count('not_found') });
      job.record.traces = traces;
      job.record.deliveries_total = deliveries;
      for (const o of ['queued', 'already_owed', 'not_found'] as const) if (count(o) > 0) metrics.rescuedTraces.inc({ outcome: o }, count(o));
      this.#finish(job, null);
    } catch (err) {
      this.#logger.error({ rescue: job.record.id, err }, 'rescue failed');
      this.#finish(job, messageOf(err));
    }
  }

  #finish(job: Job, error: string | null): void {
    const r = this.#withProgress(job);
    r.state = error === null ? 'done' : 'failed';
    r.error = error;
    r.finished_at = new Date(this.#now()).toISOString();
    this.#deps.metrics.rescueJobs.inc({ outcome: r.state });
    if (error === null) this.#logger.info({ rescue: r.id, ...r.progress, deliveries: r.deliveries_total }, 'rescue queued');
    this.#persist(r);
    this.#prune.run(this.#config.job_history);
    this.#jobs.delete(r.id);
    job.resolve();
  }

  #withProgress(job: Job): JobRecord {
    const p = job.record.progress;
    p.files_total = job.find.filesTotal + job.locate.filesTotal;
    p.files_scanned = job.find.filesScanned + job.locate.filesScanned;
    p.traces_found = job.request.kind === 'query' ? job.find.tracesFound : job.locate.tracesFound;
    return job.record;
  }

  #persist(r: JobRecord): void {
    this.#save.run(r.id, Date.parse(r.created_at), r.state, JSON.stringify(r));
  }

  #view(r: JobRecord): RescueJobView {
    const { deliveries_total: total, ...rest } = r;
    const { pending, deadLettered } = this.#deps.deliveries.rescueProgress(r.id);
    const delivered = Math.max(0, total - pending - deadLettered);
    return {
      ...rest,
      progress: { ...r.progress },
      complete: r.state === 'done' && pending === 0,
      deliveries: { total, pending, delivered, dead_lettered: deadLettered },
    };
  }
}

function emptyProgress(): SearchProgress {
  return { filesTotal: 0, filesScanned: 0, tracesFound: 0 };
}

/** The request as recorded: normalized, times in RFC 3339. */
function requestView(r: RescueRequest): Record<string, unknown> {
  if (r.kind === 'ids') return { trace_ids: r.traceIds };
  const q = r.query;
  return {
    query: {
      service: q.service,
      from: new Date(q.fromMs).toISOString(),
      to: new Date(q.toMs).toISOString(),
      error_only: q.errorOnly,
      attributes: q.attributes.map((a) => (a.value === null ? { key: a.key, op: a.op } : { key: a.key, op: a.op, value: a.value })),
    },
    limit: r.limit,
  };
}

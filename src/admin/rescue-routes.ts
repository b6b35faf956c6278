import { z } from 'zod';
import { isTailsamplerError } from '../errors.ts';
import type { RescueConfig } from '../rescue/config.ts';
import { RescueInvalidError, rescueBodySchema } from '../rescue/request.ts';
import type { Rescuer, RescueJobView } from '../rescue/rescuer.ts';
import { errorResponse } from './openapi.ts';
import type { AdminResponse, AdminRoute } from './route.ts';

/** How long a client should wait before asking again when every rescue slot is taken. */
const BUSY_RETRY_AFTER_SECS = 5;
const LIST_DEFAULT = 20;
const LIST_MAX = 100;

const count = { type: 'integer', minimum: 0 };
const jobSchema = {
  type: 'object',
  required: ['id', 'state', 'complete', 'principal', 'reason', 'created_at', 'finished_at', 'request', 'progress', 'deliveries', 'traces', 'error'],
  properties: {
    id: { type: 'string', description: 'also the `tailsampler.rescue_id` attribute on every exported span' },
    state: { type: 'string', enum: ['queued', 'searching', 'done', 'failed'] },
    complete: { type: 'boolean', description: 'done, and every exporter delivered or dead-lettered every trace' },
    principal: { type: 'string', description: 'who asked' },
    reason: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    finished_at: { type: ['string', 'null'], format: 'date-time', description: 'when the search ended' },
    request: { type: 'object', description: 'the request, normalized (query times in RFC 3339, default limit filled in)' },
    progress: {
      type: 'object',
      properties: {
        files_total: count,
        files_scanned: count,
        traces_found: { ...count, description: 'ids: traces located in the table; query: traces matching it' },
        traces_queued: count,
        traces_already_owed: count,
        traces_not_found: count,
      },
    },
    deliveries: {
      type: 'object',
      description: 'one per exporter and trace',
      properties: { total: count, pending: count, delivered: count, dead_lettered: count },
    },
    traces: {
      type: 'array',
      description: 'each trace asked for (ids) or found (query) and what became of it; empty in the list',
      items: {
        type: 'object',
        properties: { trace_id: { type: 'string' }, outcome: { type: 'string', enum: ['queued', 'already_owed', 'not_found'] } },
      },
    },
    error: { type: ['string', 'null'], description: 'why the job failed' },
  },
};

const json = (schema: unknown) => ({ 'application/json': { schema } });

function fail(status: number, code: string, message: string, extra: { issues?: unknown; headers?: Record<string, string> } = {}): AdminResponse {
  return {
    status,
    body: { error: extra.issues === undefined ? { code, message } : { code, message, issues: extra.issues } },
    ...(extra.headers !== undefined ? { headers: extra.headers } : {}),
  };
}

/** A rescuer error as its answer; anything else is rethrown for the server to answer 500. */
function answerError(err: unknown): AdminResponse {
  if (err instanceof RescueInvalidError) return fail(400, err.code, err.message, { issues: err.issues });
  if (isTailsamplerError(err) && err.code === 'TS_RESCUE_JOB_NOT_FOUND') return fail(404, err.code, err.message);
  if (isTailsamplerError(err) && err.code === 'TS_RESCUE_BUSY') return fail(429, err.code, err.message, { headers: { 'retry-after': String(BUSY_RETRY_AFTER_SECS) } });
  throw err;
}

const location = (job: RescueJobView) => ({ location: `/v1/rescue/${encodeURIComponent(job.id)}` });

/**
 * The admin API's rescue routes: `POST /v1/rescue` starts a rescue (by trace ids or by a query) and
 * answers 200 with the job when its search ends within `rescue.sync_wait_ms`, else 202 with the job
 * so far; `GET /v1/rescue/{id}` follows it until `complete`; `GET /v1/rescue` lists recent jobs.
 */
export function rescueRoutes(rescuer: Pick<Rescuer, 'submit' | 'wait' | 'get' | 'list'>, config: RescueConfig): AdminRoute[] {
  const { $schema: _drop, ...bodySchema } = z.toJSONSchema(rescueBodySchema(config), { io: 'input' }) as Record<string, unknown>;
  return [
    {
      method: 'POST',
      path: '/v1/rescue',
      openapi: {
        operationId: 'createRescue',
        summary: 'Rescue traces from the lake to the exporters, whatever their decision',
        description:
          'Give `trace_ids`, or a `query` (service, span start range, error only, attribute conditions; a trace matches when one of its spans matches every condition) with a `limit`. ' +
          'Traces found in the table (within retention) are exported to every configured exporter through the durable delivery path, each span marked with `tailsampler.rescued=true` and `tailsampler.rescue_id`. ' +
          'Answers 200 when the search ended within `rescue.sync_wait_ms`, else 202; follow `Location` until `complete`.',
        tags: ['rescue'],
        requestBody: { required: true, content: json(bodySchema) },
        responses: {
          200: { description: 'The search ended: what was queued, already owed and not found', content: json(jobSchema) },
          202: { description: 'The job is queued or searching; follow `Location`', headers: { Location: { schema: { type: 'string' } } }, content: json(jobSchema) },
          400: errorResponse('The request is refused; `issues` lists each problem with its path (`trace_ids[2]`, `query.from`)'),
          429: errorResponse('`rescue.max_jobs` jobs are under way; `Retry-After` says when to try again'),
        },
      },
      async handle(req) {
        try {
          const job = rescuer.submit(req.body, req.principal);
          const now = await rescuer.wait(job.id, config.sync_wait_ms);
          const ended = now.state === 'done' || now.state === 'failed';
          return { status: ended ? 200 : 202, body: now, headers: location(now) };
        } catch (err) {
          return answerError(err);
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/rescue/{id}',
      openapi: {
        operationId: 'getRescue',
        summary: 'A rescue job: search progress, what became of each trace, deliveries',
        tags: ['rescue'],
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          200: { description: 'The job', content: json(jobSchema) },
          404: errorResponse('No such job (or forgotten after `rescue.job_history` newer ones)'),
        },
      },
      async handle(req) {
        try {
          return { status: 200, body: rescuer.get(req.params.id ?? '') };
        } catch (err) {
          return answerError(err);
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/rescue',
      openapi: {
        operationId: 'listRescues',
        summary: 'Recent rescue jobs, newest first (without their trace lists)',
        tags: ['rescue'],
        parameters: [{ name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: LIST_MAX, default: LIST_DEFAULT } }],
        responses: {
          200: { description: 'The jobs', content: json({ type: 'object', properties: { jobs: { type: 'array', items: jobSchema } } }) },
          400: errorResponse('`limit` is not a whole number from 1 to 100'),
        },
      },
      async handle(req) {
        const raw = req.query.get('limit');
        const limit = raw === null ? LIST_DEFAULT : Number(raw);
        if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX) {
          return fail(400, 'TS_RESCUE_INVALID', `limit must be a whole number from 1 to ${LIST_MAX}`, { issues: [{ path: 'limit', message: `must be a whole number from 1 to ${LIST_MAX}` }] });
        }
        return { status: 200, body: { jobs: rescuer.list(limit) } };
      },
    },
  ];
}

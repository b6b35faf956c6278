import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { TailsamplerError } from '../errors.ts';
import { interpolate } from './interpolate.ts';
import { configSchema, type Config } from './schema.ts';

export interface ConfigIssue {
  /** Dotted path with list indexes in brackets, e.g. `sampling.policies[2].latency.threshold_ms`. */
  path: string;
  message: string;
}

export class ConfigError extends TailsamplerError {
  readonly issues: ConfigIssue[];
  constructor(source: string, issues: ConfigIssue[]) {
    super('TS_CONFIG_INVALID', `invalid configuration in ${source}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out || '(root)';
}

function issuesOf(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}

/** Parses YAML text, interpolates `${VAR}` references and validates; every problem is reported with its path. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0] ?? e.message })),
    );
  }
  const raw = interpolate(doc.toJS() ?? {}, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, issuesOf(result.error));
  checkCrossReferences(result.data, source);
  return result.data;
}

/** Loads the config file, or the embedded defaults when no file is given. */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  if (file === undefined) return parseConfig('', '(defaults)', env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new TailsamplerError('TS_CONFIG_UNREADABLE', `cannot read config file ${file}: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(text, file, env);
}

function portOf(endpoint: string): string {
  return endpoint.slice(endpoint.lastIndexOf(':') + 1);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '0.0.0.0']);

/** Checks that need more than one section: an exporter pointed at our own receiver would loop traces forever. */
function checkCrossReferences(config: Config, source: string): void {
  const issues: ConfigIssue[] = [];
  for (const e of config.exporters) {
    if (e.type !== 'otlp') continue;
    const url = new URL(e.config.endpoint);
    const receiver = e.config.protocol === 'grpc' ? config.receivers.otlp.grpc : config.receivers.otlp.http;
    if (receiver !== null && LOOPBACK.has(url.hostname) && url.port === portOf(receiver.endpoint)) {
      issues.push({
        path: formatPath(['exporters', e.id, 'endpoint']),
        message: `points at this service's own OTLP receiver (${receiver.endpoint}); kept traces would loop back in`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
}

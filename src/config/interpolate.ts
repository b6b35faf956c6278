import { TailsamplerError } from '../errors.ts';

/** `${VAR}`, `${VAR:-default}`, and `$$` for a literal `$`, as the Collector's config does. */
const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export class ConfigInterpolationError extends TailsamplerError {
  constructor(message: string) {
    super('TS_CONFIG_INTERPOLATION', message);
    this.name = 'ConfigInterpolationError';
  }
}

/**
 * Replaces variable references in every string scalar of an already parsed YAML tree (not in the raw
 * text, so a value can never inject YAML structure). A scalar that is exactly one reference becomes a
 * number or boolean when the value reads as one, so `port: ${PORT}` stays a number.
 */
export function interpolate(node: unknown, env: NodeJS.ProcessEnv, path: string[] = []): unknown {
  if (typeof node === 'string') return interpolateString(node, env, path);
  if (Array.isArray(node)) return node.map((v, i) => interpolate(v, env, [...path, String(i)]));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = interpolate(v, env, [...path, k]);
    return out;
  }
  return node;
}

function interpolateString(value: string, env: NodeJS.ProcessEnv, path: string[]): unknown {
  let whole = false;
  const replaced = value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined, offset: number) => {
    if (match === '$$') return '$';
    const v = env[name!];
    whole = offset === 0 && match.length === value.length;
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    throw new ConfigInterpolationError(
      `${path.join('.') || '(root)'}: environment variable ${name} is not set and has no default (write \${${name}:-default})`,
    );
  });
  if (!whole) return replaced;
  if (/^-?\d+(\.\d+)?$/.test(replaced)) return Number(replaced);
  if (replaced === 'true' || replaced === 'false') return replaced === 'true';
  return replaced;
}

import { InvalidMetadataError } from './errors.ts';

/**
 * JSON from a REST catalog, parsed so that no integer silently loses precision. Other engines (Java's
 * SnapshotIdGeneration, Spark, Trino) draw snapshot ids from all 63 bits; JSON.parse would round such an
 * id to the nearest double, and a commit built on it would assert a parent snapshot that does not
 * exist (or, worse, name another one). Table metadata here is typed with JS numbers, so an integer
 * beyond 2^53 is refused with an error naming the field instead of being rounded.
 */

// JSON.parse's reviver gets the literal's source text as a third argument (Node ≥ 21, V8's
// "JSON.parse source text access"); the TypeScript lib does not declare it yet.
type SourceReviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

export class UnsafeIntegerError extends InvalidMetadataError {
  readonly field: string;
  readonly literal: string;
  constructor(what: string, field: string, literal: string) {
    super(
      `${what}: ${field} = ${literal} is beyond 2^53 and cannot be represented exactly; ` +
        'this table has ids written by an engine that uses full 64-bit ids, which tailsampler does not handle',
    );
    this.field = field;
    this.literal = literal;
  }
}

/**
 * Parses `text`; an integer literal that is not a safe JS integer is an UnsafeIntegerError, or with
 * `unsafeIntegers: 'string'` its decimal text: for tables this service only reads, where such ids are
 * compared, never computed with or written back.
 */
export function parseJsonExact(text: string, what: string, unsafeIntegers: 'refuse' | 'string' = 'refuse'): unknown {
  const reviver: SourceReviver = function (key, value, context) {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      const source = context?.source;
      // Fractions and exponents are floats on purpose; only integer literals must stay exact.
      if (source !== undefined && /^-?\d+$/.test(source)) {
        if (unsafeIntegers === 'string') return source;
        throw new UnsafeIntegerError(what, key, source);
      }
    }
    return value;
  };
  return JSON.parse(text, reviver);
}

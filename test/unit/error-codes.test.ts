import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorCodes, isErrorCode, type ErrorCode, type FixedErrorCode } from '../../src/error-codes.ts';
import { TailsamplerError } from '../../src/errors.ts';
import { ExportSendError } from '../../src/export/errors.ts';
import { ObjectStoreRequestError } from '../../src/lake/file-io-errors.ts';
import { SchemaRegistryError } from '../../src/spool/kafka/errors.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const CATALOGUE_FILE = 'src/error-codes.ts';

function retryableText(r: boolean | 'per instance'): string {
  return r === true ? 'yes' : r === false ? 'no' : r;
}

/** The README's "Error codes" table as code → [retryable, meaning], as written. */
function readmeTable(): Map<string, [string, string]> {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Error codes\n');
  assert.ok(start >= 0, 'README has an "## Error codes" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, [string, string]>();
  for (const line of section.split('\n')) {
    const m = /^\| `(TS_[A-Z0-9_]+)` \| ([^|]+) \| (.+) \|$/.exec(line);
    if (m === null) continue;
    assert.ok(!rows.has(m[1]!), `${m[1]} is in the README table twice`);
    rows.set(m[1]!, [m[2]!.trim(), m[3]!.trim()]);
  }
  return rows;
}

function row(code: ErrorCode): string {
  const info = errorCodes[code];
  return `| \`${code}\` | ${retryableText(info.retryable)} | ${info.meaning} |`;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (relative(repo, p) !== join('src', 'otlp', 'gen')) out.push(...sourceFiles(p));
    } else if (e.name.endsWith('.ts')) {
      out.push(p);
    }
  }
  return out;
}

/** Every quoted 'TS_…' literal in src/ (generated code aside) with where it is. */
function codeLiterals(): { code: string; where: string }[] {
  const found: { code: string; where: string }[] = [];
  for (const file of sourceFiles(join(repo, 'src'))) {
    const rel = relative(repo, file);
    if (rel === CATALOGUE_FILE) continue;
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const m of line.matchAll(/['"`](TS_[A-Z0-9_]*)['"`]/g)) found.push({ code: m[1]!, where: `${rel}:${i + 1}` });
      });
  }
  return found;
}

test('the README error table lists exactly the catalogue, with the same retryable flag and meaning', () => {
  const table = readmeTable();
  const codes = Object.keys(errorCodes) as ErrorCode[];
  const missing = codes.filter((c) => !table.has(c));
  assert.deepEqual(missing, [], `add to the README's "Error codes" table:\n${missing.map(row).join('\n')}`);
  const unknown = [...table.keys()].filter((c) => !isErrorCode(c));
  assert.deepEqual(unknown, [], `README rows with no code in ${CATALOGUE_FILE}`);
  for (const c of codes) {
    const info = errorCodes[c];
    assert.deepEqual(table.get(c), [retryableText(info.retryable), info.meaning], `README row differs from the catalogue; expected:\n${row(c)}`);
  }
});

test("every 'TS_…' literal in src/ is a catalogued code, and every catalogued code is raised somewhere", () => {
  const literals = codeLiterals();
  assert.ok(literals.length >= Object.keys(errorCodes).length, 'the scan finds the codes where errors are raised');
  const stray = literals.filter((l) => !isErrorCode(l.code));
  assert.deepEqual(stray, [], `codes not in ${CATALOGUE_FILE}`);
  const used = new Set(literals.map((l) => l.code));
  const unused = Object.keys(errorCodes).filter((c) => !used.has(c));
  assert.deepEqual(unused, [], 'catalogued codes no source raises (remove them, or raise them)');
});

test('an error carries the catalogue’s retryable flag; per-instance codes carry what their class decided', () => {
  const fixed = (Object.keys(errorCodes) as ErrorCode[]).filter((c): c is FixedErrorCode => errorCodes[c].retryable !== 'per instance');
  assert.ok(fixed.some((c) => errorCodes[c].retryable) && fixed.some((c) => !errorCodes[c].retryable));
  for (const code of fixed) {
    const e = new TailsamplerError(code, 'm');
    assert.equal(e.code, code);
    assert.equal(e.retryable, errorCodes[code].retryable, code);
  }
  assert.equal(new ExportSendError('503', { retryable: true, status: 503 }).retryable, true);
  assert.equal(new ExportSendError('400', { retryable: false, status: 400 }).retryable, false);
  const store = (retryable: boolean) => new ObjectStoreRequestError('get_object', 's3://b/k', { status: 503, storeCode: 'SlowDown', retryable, cause: null });
  assert.equal(store(true).retryable, true);
  assert.equal(store(false).retryable, false);
  assert.equal(new SchemaRegistryError('x', 503).retryable, true);
  assert.equal(new SchemaRegistryError('x', 409).retryable, false);
});

test('codes outside the catalogue do not type-check', () => {
  // Checked by tsc (npm test's type check), not at run time: the directive fails if the line compiles.
  // @ts-expect-error 'TS_NOT_A_CODE' is not an ErrorCode
  const e = new TailsamplerError('TS_NOT_A_CODE', 'm');
  assert.equal(e.retryable, false, 'from untyped code, an unknown code still makes an error');
  // @ts-expect-error a per-instance code must say whether this error is retryable
  assert.ok(new TailsamplerError('TS_EXPORT_SEND', 'm') instanceof TailsamplerError);
  // @ts-expect-error a code with a catalogued flag takes no other
  assert.ok(new TailsamplerError('TS_CONFIG_INVALID', 'm', { retryable: true }) instanceof TailsamplerError);
});

import type { TableRequirement, TableUpdate } from './catalog.ts';
import { CommitConflictError, InvalidMetadataError } from './errors.ts';
import { METADATA_PREVIOUS_VERSIONS_MAX, type TableMetadata } from './metadata.ts';

/**
 * Server-side half of a commit, as a REST catalog does it: check requirements against the current
 * metadata, then derive the next metadata from the updates. Catalogs that own the metadata files
 * (the SQL catalog) run this; a REST client leaves it to the server.
 */

export function checkRequirements(metadata: TableMetadata | null, requirements: readonly TableRequirement[]): void {
  for (const r of requirements) {
    if (r.type === 'assert-create') {
      if (metadata !== null) throw new CommitConflictError('requirement failed: table already exists');
      continue;
    }
    if (metadata === null) throw new CommitConflictError(`requirement ${r.type} failed: table does not exist`);
    switch (r.type) {
      case 'assert-table-uuid':
        if (metadata['table-uuid'] !== r.uuid) {
          throw new CommitConflictError(`requirement failed: table uuid is ${metadata['table-uuid']}, expected ${r.uuid}`);
        }
        break;
      case 'assert-ref-snapshot-id': {
        const actual = metadata.refs?.[r.ref]?.['snapshot-id'] ?? null;
        if (actual !== r['snapshot-id']) {
          throw new CommitConflictError(
            `requirement failed: ref ${r.ref} points at ${actual ?? 'nothing'}, expected ${r['snapshot-id'] ?? 'nothing'}`,
          );
        }
        break;
      }
      case 'assert-last-assigned-field-id':
        if (metadata['last-column-id'] !== r['last-assigned-field-id']) throw new CommitConflictError('requirement failed: last assigned field id changed');
        break;
      case 'assert-current-schema-id':
        if (metadata['current-schema-id'] !== r['current-schema-id']) throw new CommitConflictError('requirement failed: current schema changed');
        break;
      case 'assert-last-assigned-partition-id':
        if (metadata['last-partition-id'] !== r['last-assigned-partition-id']) throw new CommitConflictError('requirement failed: last partition id changed');
        break;
      case 'assert-default-spec-id':
        if (metadata['default-spec-id'] !== r['default-spec-id']) throw new CommitConflictError('requirement failed: default spec changed');
        break;
      case 'assert-default-sort-order-id':
        if (metadata['default-sort-order-id'] !== r['default-sort-order-id']) throw new CommitConflictError('requirement failed: default sort order changed');
        break;
    }
  }
}

/**
 * The next metadata: `updates` applied to `base`, and `base`'s own file appended to metadata-log
 * (bounded by METADATA_PREVIOUS_VERSIONS_MAX). `base` is not modified.
 */
export function applyUpdates(
  base: TableMetadata,
  baseLocation: string,
  updates: readonly TableUpdate[],
  nowMs: number = Date.now(),
): TableMetadata {
  const next: TableMetadata = structuredClone(base);
  next.snapshots ??= [];
  next['snapshot-log'] ??= [];
  next.refs ??= {};
  for (const u of updates) {
    switch (u.action) {
      case 'add-snapshot': {
        const s = u.snapshot;
        if (next.snapshots.some((x) => x['snapshot-id'] === s['snapshot-id'])) {
          throw new CommitConflictError(`snapshot id ${s['snapshot-id']} already exists`);
        }
        if (s['sequence-number'] <= next['last-sequence-number']) {
          // Another writer took this sequence number: the caller must rebuild on the new state.
          throw new CommitConflictError(
            `snapshot sequence number ${s['sequence-number']} is not above the table's ${next['last-sequence-number']}`,
          );
        }
        next.snapshots.push(structuredClone(s));
        next['last-sequence-number'] = s['sequence-number'];
        break;
      }
      case 'set-snapshot-ref': {
        const snap = next.snapshots.find((x) => x['snapshot-id'] === u['snapshot-id']);
        if (snap === undefined) throw new InvalidMetadataError(`set-snapshot-ref: unknown snapshot ${u['snapshot-id']}`);
        next.refs[u['ref-name']] = { 'snapshot-id': u['snapshot-id'], type: u.type };
        if (u['ref-name'] === 'main') {
          next['current-snapshot-id'] = u['snapshot-id'];
          next['snapshot-log'].push({ 'snapshot-id': u['snapshot-id'], 'timestamp-ms': snap['timestamp-ms'] });
        }
        break;
      }
      case 'remove-snapshots': {
        const gone = new Set(u['snapshot-ids']);
        for (const [name, ref] of Object.entries(next.refs)) {
          if (gone.has(ref['snapshot-id'])) {
            throw new InvalidMetadataError(`remove-snapshots: snapshot ${ref['snapshot-id']} is still referenced by ${name}`);
          }
        }
        next.snapshots = next.snapshots.filter((s) => !gone.has(s['snapshot-id']));
        next['snapshot-log'] = next['snapshot-log'].filter((e) => !gone.has(e['snapshot-id']));
        break;
      }
      case 'set-properties':
        next.properties = { ...next.properties, ...u.updates };
        break;
    }
  }
  next['last-updated-ms'] = Math.max(nowMs, base['last-updated-ms']);
  const log = [...(next['metadata-log'] ?? []), { 'metadata-file': baseLocation, 'timestamp-ms': base['last-updated-ms'] }];
  const keep = Number(next.properties['write.metadata.previous-versions-max'] ?? METADATA_PREVIOUS_VERSIONS_MAX);
  next['metadata-log'] = log.slice(Math.max(0, log.length - keep));
  return next;
}

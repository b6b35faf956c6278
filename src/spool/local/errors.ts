import { TailsamplerError } from '../../errors.ts';

/** A segment holds bytes that are not a valid record where records must be; starting would lose data. */
export class SpoolCorruptError extends TailsamplerError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, reason: string) {
    super(
      'TS_SPOOL_CORRUPT',
      `spool segment ${file} is corrupt at byte offset ${offset} (${reason}); ` +
        'refusing to continue rather than silently dropping the records after it',
    );
    this.name = 'SpoolCorruptError';
    this.file = file;
    this.offset = offset;
  }
}

/** Writing or fsyncing a batch failed; nothing of it was acknowledged, so the client may simply retry. */
export class SpoolWriteError extends TailsamplerError {
  constructor(message: string, cause: unknown) {
    super('TS_SPOOL_WRITE', message, { cause });
    this.name = 'SpoolWriteError';
  }
}

/** A position that is malformed or lies beyond anything this spool has made durable. */
export class SpoolPositionError extends TailsamplerError {
  constructor(message: string) {
    super('TS_SPOOL_POSITION', message);
    this.name = 'SpoolPositionError';
  }
}

/** The spool is not running (not started yet, shutting down, or shut down). */
export class SpoolClosedError extends TailsamplerError {
  constructor(what: string) {
    super('TS_SPOOL_CLOSED', `spool is not running: cannot ${what}`);
    this.name = 'SpoolClosedError';
  }
}

/** Another live process holds the spool directory; two writers would interleave frames. */
export class SpoolLockedError extends TailsamplerError {
  constructor(dir: string, pid: number) {
    super('TS_SPOOL_LOCKED', `spool directory ${dir} is in use by process ${pid}`);
    this.name = 'SpoolLockedError';
  }
}

/** One payload larger than a frame can describe. */
export class SpoolRecordTooLargeError extends TailsamplerError {
  constructor(bytes: number, max: number) {
    super('TS_SPOOL_RECORD_TOO_LARGE', `record of ${bytes} bytes exceeds the spool maximum of ${max} bytes`);
    this.name = 'SpoolRecordTooLargeError';
  }
}

import assert from 'node:assert/strict';
import { it } from 'node:test';
import {
  comparePositions,
  formatPosition,
  parsePosition,
  parseSegmentFileName,
  segmentFileName,
} from '../../../../src/spool/local/position.ts';

it('round-trips positions and accepts unpadded digits', () => {
  const p = { segment: 3, offset: 1048576 };
  assert.equal(formatPosition(p), '00000000000000000003:00000000000001048576');
  assert.deepEqual(parsePosition(formatPosition(p)), p);
  assert.deepEqual(parsePosition('3:1048576'), p);
});

it('orders formatted positions the same as comparePositions, even as plain strings', () => {
  const ps = [
    { segment: 0, offset: 8 },
    { segment: 0, offset: 100 },
    { segment: 0, offset: 99999 },
    { segment: 1, offset: 8 },
    { segment: 10, offset: 9 },
    { segment: 10, offset: 10 },
  ];
  for (let i = 0; i + 1 < ps.length; i++) {
    assert.ok(comparePositions(ps[i]!, ps[i + 1]!) < 0);
    assert.ok(formatPosition(ps[i]!) < formatPosition(ps[i + 1]!));
  }
  assert.equal(comparePositions(ps[2]!, { ...ps[2]! }), 0);
});

it('rejects malformed positions with TS_SPOOL_POSITION', () => {
  for (const bad of ['', '3', '3:', ':5', '-1:5', '3:5:7', 'a:b', '3:1e3', '123456789012345678901:0']) {
    assert.throws(() => parsePosition(bad), { code: 'TS_SPOOL_POSITION' }, bad);
  }
});

it('maps segment numbers to file names and back, ignoring other files', () => {
  assert.equal(segmentFileName(12), '00000000000000000012.seg');
  assert.equal(parseSegmentFileName('00000000000000000012.seg'), 12);
  assert.equal(parseSegmentFileName('LOCK'), null);
  assert.equal(parseSegmentFileName('12.seg'), null);
  assert.equal(parseSegmentFileName('00000000000000000012.seg.tmp'), null);
});

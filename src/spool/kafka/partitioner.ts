/**
 * The partition of a keyed message, computed the way the OpenTelemetry Collector's Kafka exporter
 * does (franz-go with its Sarama-compatible hasher): FNV-1a 32 of the key bytes, read as a signed
 * 32-bit integer, remainder by the partition count, negated when negative. A trace id therefore lands
 * in the same partition whether the Collector or tailsampler produced the message, so both can feed
 * one topic. (Kafka's Java client would use murmur2 instead.)
 */
export function partitionForKey(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
      continue;
    }
    // Non-ASCII keys (not trace ids, but keep the hash right): hash their UTF-8 bytes.
    const bytes = Buffer.from(key.slice(i), 'utf8');
    for (c of bytes) h = Math.imul(h ^ c, 0x01000193);
    break;
  }
  // Go's % truncates toward zero like JS's; abs() is Go's `if p < 0 { p = -p }` (and turns -0 into 0).
  return Math.abs((h | 0) % partitions);
}

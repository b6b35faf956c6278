/** Bytes (an OTLP trace or span id) as lower-case hex, without copying them; '' for none. */
export function hexOf(bytes: Uint8Array | null | undefined): string {
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex') : '';
}

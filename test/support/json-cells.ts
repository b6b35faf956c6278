/** The OTLP/JSON cells of a batch as text, however the batch holds them (requestsToColumns: UTF-8 bytes). */
const strict = new TextDecoder('utf-8', { fatal: true });

/** A cell's text; bytes are decoded strictly (invalid UTF-8 throws instead of becoming U+FFFD). */
export function cellText(cell: string | Uint8Array): string {
  return typeof cell === 'string' ? cell : strict.decode(cell);
}

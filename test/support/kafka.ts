import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer } from '@platformatic/kafka';

export interface RawMessage {
  partition: number;
  /** The key as text; null when the message has none. */
  key: string | null;
  value: Buffer;
}

/** The topic's first `count` messages as a plain consumer (its own group) sees them; fails after 30 s with fewer. */
export async function rawMessages(brokers: string[], topic: string, count: number): Promise<RawMessage[]> {
  const consumer = new Consumer({ clientId: 'tailsampler-test', groupId: `raw-${randomBytes(4).toString('hex')}`, bootstrapBrokers: brokers });
  const out: RawMessage[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const done = (async () => {
      for await (const m of stream) {
        out.push({ partition: m.partition, key: m.key?.length ? m.key.toString() : null, value: Buffer.from(m.value) });
        if (out.length >= count) break;
      }
    })();
    const timeout = new AbortController();
    const late = sleep(30_000, undefined, { signal: timeout.signal }).then(
      () => assert.fail(`only ${out.length} of ${count} messages in ${topic}`),
      () => undefined,
    );
    await Promise.race([done, late]);
    timeout.abort();
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return out;
}

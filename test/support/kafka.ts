import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';
import { Admin, Consumer } from '@platformatic/kafka';
import type { Component } from '../../src/component.ts';
import { infraEnv } from './infra.ts';

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

/**
 * A test file's Kafka: the running broker's addresses (set before its tests run) and the spools and
 * topics its tests made, shut down and deleted after them.
 */
export function kafkaTestScope(): { brokers: string[]; spools: Component[]; topics: string[] } {
  const scope = { brokers: [] as string[], spools: [] as Component[], topics: [] as string[] };
  before(() => {
    scope.brokers = infraEnv('kafka').TAILSAMPLER_KAFKA_BROKERS!.split(',');
  });
  after(async () => {
    for (const s of scope.spools) await s.shutdown().catch(() => undefined);
    const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: scope.brokers });
    await admin.deleteTopics({ topics: scope.topics }).catch(() => undefined);
    await admin.close();
  });
  return scope;
}

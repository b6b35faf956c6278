import { Admin } from '@platformatic/kafka';
import type { Logger } from '../../telemetry/logger.ts';
import type { KafkaClientOptions } from './client-options.ts';
import { KafkaSpoolError } from './errors.ts';

/**
 * Creates `topic` with `partitions` partitions and the given topic configs unless it exists (an
 * existing topic is used as it is), and returns its partition count.
 */
export async function ensureTopic(
  options: KafkaClientOptions,
  topic: string,
  partitions: number,
  configs: Record<string, string>,
  logger: Logger,
): Promise<number> {
  const admin = new Admin(options);
  try {
    const count = async (): Promise<number | undefined> => (await admin.metadata({ topics: [topic] })).topics.get(topic)?.partitionsCount;
    if ((await admin.listTopics()).includes(topic)) {
      const n = await count();
      if (n !== undefined) return n;
    }
    try {
      await admin.createTopics({
        topics: [topic],
        partitions,
        replicas: -1,
        configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
      });
      logger.info({ topic, partitions, configs }, 'created kafka topic');
    } catch (e) {
      // Another replica may have created it meanwhile (TOPIC_ALREADY_EXISTS): fine if it is there now.
      if (!(await admin.listTopics()).includes(topic)) throw e;
    }
    const n = await count();
    if (n === undefined) throw new KafkaSpoolError(`kafka topic ${topic} has no metadata after creation`);
    return n;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

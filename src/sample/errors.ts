import { TailsamplerError } from '../errors.ts';

/** A policy configuration the engine cannot build (normally caught earlier by the config schema). */
export class SamplingPolicyError extends TailsamplerError {
  readonly policy: string;
  constructor(policy: string, message: string) {
    super('TS_SAMPLE_POLICY_INVALID', `sampling policy "${policy}": ${message}`);
    this.name = 'SamplingPolicyError';
    this.policy = policy;
  }
}

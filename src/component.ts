/** A pipeline component with a lifecycle, as in the OTel Collector: built from its config, started, shut down. */
export interface Component {
  start(): Promise<void>;
  shutdown(): Promise<void>;
}

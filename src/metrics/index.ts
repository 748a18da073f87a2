/**
 * `streamguard/metrics`: prom-client collectors fed from the diagnostics
 * channels every middleware publishes, and a `/metrics` handler.
 *
 * @example
 * import { metrics } from 'streamguard/metrics';
 */
export { type Metrics, type MetricsOptions, metrics, metricsHandler } from './metrics.js';
export type { RegistryLike } from './prom.js';

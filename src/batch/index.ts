/**
 * `streamguard/batch`: a per-key write-behind queue with bounded memory.
 *
 * @example
 * import { createBatcher } from 'streamguard/batch';
 */
export type { BatchFlushMessage } from '../core/instrument.js';
export { createBatcher } from './batcher.js';
export type { Batcher, BatcherOptions, BatcherStats, FlushReason } from './types.js';

import { createRequire } from 'node:module';

/** The parts of prom-client's API `metrics()` uses. */
export interface PromClient {
  Registry: new () => RegistryLike;
  Counter: new (config: CollectorConfig) => CounterLike;
  Gauge: new (config: CollectorConfig) => GaugeLike;
  Histogram: new (config: CollectorConfig & { buckets?: number[] }) => HistogramLike;
}

/**
 * A prom-client `Registry` (structurally, so streamguard's types do not need prom-client installed).
 *
 * @example
 * const registry: RegistryLike = new Registry();
 */
export interface RegistryLike {
  metrics(): Promise<string>;
  getSingleMetric(name: string): unknown;
  readonly contentType: string;
}

export interface CollectorConfig {
  name: string;
  help: string;
  labelNames?: readonly string[];
  registers?: RegistryLike[];
}

type Labels = Record<string, string | number>;

export interface CounterLike {
  inc(labels: Labels, value?: number): void;
}

export interface GaugeLike {
  inc(labels: Labels, value?: number): void;
  dec(labels: Labels, value?: number): void;
  set(labels: Labels, value: number): void;
}

export interface HistogramLike {
  observe(labels: Labels, value: number): void;
}

/**
 * Loads the optional peer prom-client, or throws an Error that says how to get it.
 * (`__filename` is native in the CommonJS build and shimmed in the ESM build.)
 */
export function loadPromClient(): PromClient {
  try {
    return createRequire(__filename)('prom-client') as PromClient;
  } catch (error) {
    throw new Error(
      'metrics() needs the optional peer dependency prom-client: npm install prom-client',
      { cause: error },
    );
  }
}

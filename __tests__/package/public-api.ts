/**
 * Every public name, by subpath. The packed-package test checks that each
 * subpath of the installed tarball exports exactly these (CJS and ESM) and
 * that `streamguard` itself exports their union plus ROOT_ONLY.
 * Each middleware adds its subpath here when it lands.
 */
export const PUBLIC_API: Record<string, readonly string[]> = {
  'streamguard/batch': ['createBatcher'],
  'streamguard/errors': ['HttpError', 'codeFromType', 'describeError', 'errorFrames', 'traceId'],
  'streamguard/metrics': ['metrics', 'metricsHandler'],
  'streamguard/shutdown': ['shutdown'],
  'streamguard/rate-limit': [
    'MemoryStore',
    'RedisStore',
    'RedisUnavailableError',
    'ipKey',
    'rateLimit',
    'rateLimitOf',
  ],
  'streamguard/sse': [
    'MemoryReplayLog',
    'MemoryReplayLogs',
    'NO_RECONNECT_ID',
    'NdjsonStream',
    'RedisStreamLog',
    'RedisStreamLogs',
    'SseStream',
    'StreamAbortError',
    'StreamWriter',
    'createChannel',
    'createChannels',
    'isAbortError',
    'lines',
    'ndjson',
    'ndjsonOf',
    'serializeComment',
    'serializeEvent',
    'serializeNdjson',
    'sse',
    'sseOf',
  ],
  'streamguard/tee': ['DEFAULT_REDACT', 'TeeSinkError', 'responseTee', 'teeOf'],
  'streamguard/body': [
    'BufferPool',
    'Lease',
    'POISON_BYTE',
    'RereadableBody',
    'bodyOf',
    'githubVerify',
    'rereadableBody',
    'stripeVerify',
    'verifyGitHubSignature',
    'verifyStripeSignature',
  ],
};

/** Names only the root exports. */
export const ROOT_ONLY: readonly string[] = ['CHANNELS', 'defaultLogger'];

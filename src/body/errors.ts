import { HttpError } from '../core/errors.js';

/** 413 `entity.too.large`, as raw-body words it. */
export function tooLarge(limit: number, received: number, length?: number): HttpError {
  return new HttpError(413, 'entity.too.large', 'request entity too large', {
    limit,
    received,
    ...(length === undefined ? {} : { length, expected: length }),
  });
}

/**
 * 413 `entity.too.large` for bytes on the wire: more than `wireLimit`
 * (compressed) bytes arrived, or were announced. Same `type` and `code` as
 * the decoded limit (handlers that check `entity.too.large` keep working);
 * told apart by `encoding` (the body's `Content-Encoding`, only set here)
 * and by `limit` being the `wireLimit`.
 */
export function wireTooLarge(
  wireLimit: number,
  received: number,
  encoding: string,
  length?: number,
): HttpError {
  return new HttpError(
    413,
    'entity.too.large',
    `request entity too large: more than ${wireLimit} bytes on the wire`,
    {
      limit: wireLimit,
      received,
      encoding,
      ...(length === undefined ? {} : { length, expected: length }),
    },
  );
}

/** Whether `err` is a {@link wireTooLarge} raised after the wire bytes passed the bound (not from the announced length). */
export function isWireOverrun(err: {
  type?: string;
  encoding?: string;
  limit?: number;
  received?: number;
}): boolean {
  return (
    err.type === 'entity.too.large' &&
    err.encoding !== undefined &&
    (err.received ?? 0) > (err.limit ?? Number.POSITIVE_INFINITY)
  );
}

/** 400 `request.size.invalid`: the body did not match its Content-Length. */
export function sizeInvalid(expected: number, received: number): HttpError {
  return new HttpError(400, 'request.size.invalid', 'request size did not match content length', {
    expected,
    length: expected,
    received,
  });
}

/** 400 `request.aborted`: the client went away mid-body. */
export function aborted(received: number, expected?: number): HttpError {
  return new HttpError(400, 'request.aborted', 'request aborted', {
    received,
    ...(expected === undefined ? {} : { expected, length: expected }),
  });
}

/** 415 `encoding.unsupported`, as body-parser words it. */
export function encodingUnsupported(encoding: string): HttpError {
  return new HttpError(415, 'encoding.unsupported', `unsupported content encoding "${encoding}"`, {
    encoding,
  });
}

/** 415 `charset.unsupported`, as body-parser words it. */
export function charsetUnsupported(charset: string): HttpError {
  return new HttpError(
    415,
    'charset.unsupported',
    `unsupported charset "${charset.toUpperCase()}"`,
    {
      charset,
    },
  );
}

/** 400 `entity.parse.failed`, with the parser's message. */
export function parseFailed(cause: unknown): HttpError {
  const m = (cause as { message?: unknown } | null)?.message;
  const message = typeof m === 'string' ? m : 'invalid JSON';
  return new HttpError(400, 'entity.parse.failed', message, { cause });
}

/** 400 `encoding.invalid`: the compressed body could not be inflated. */
export function inflateFailed(cause: unknown): HttpError {
  const m = (cause as { message?: unknown } | null)?.message;
  const message = typeof m === 'string' ? m : 'invalid compressed body';
  return new HttpError(400, 'encoding.invalid', message, { cause });
}

/** 413 `body.inflation.ratio`: a compressed body inflates suspiciously (zip bomb). */
export function ratioExceeded(ratio: number, received: number, inflated: number): HttpError {
  return new HttpError(
    413,
    'body.inflation.ratio',
    `compressed body inflates more than ${ratio}x; refusing it`,
    { limit: ratio, received, length: inflated },
  );
}

/**
 * 408 `request.timeout`: no body bytes arrived for `timeout` ms. The answer
 * closes the connection (`Connection: close`); the rest of the body is not read.
 */
export function timedOut(timeout: number, received: number, expected?: number): HttpError {
  return new HttpError(408, 'request.timeout', `no request body bytes for ${timeout} ms`, {
    limit: timeout,
    received,
    headers: { Connection: 'close' },
    ...(expected === undefined ? {} : { expected, length: expected }),
  });
}

/**
 * 500 `body.stream.timeout`: a `stream()` still not ended `streamTimeout` ms
 * after the response was done is destroyed, so its hold on pooled memory ends.
 */
export function streamTimedOut(timeout: number): HttpError {
  return new HttpError(
    500,
    'body.stream.timeout',
    `a body stream was still open ${timeout} ms after the response; destroyed`,
    { limit: timeout },
  );
}

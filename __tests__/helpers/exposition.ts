/**
 * A strict parser for the Prometheus text exposition format (0.0.4): every
 * line must be a HELP, a TYPE or a sample of a declared family, or the parse
 * throws. Returns the samples by `name{sorted labels}`.
 */
export interface Exposition {
  types: Map<string, string>;
  samples: Map<string, number>;
  /** The value of one sample; labels in any order. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const HELP = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/;
const TYPE = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;

function key(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`);
  return `${name}{${parts.join(',')}}`;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = HELP.exec(line);
    if (help) continue;
    const type = TYPE.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not exposition format: ${JSON.stringify(line)}`);
    const [, name, , body, raw] = sample;
    const family = [...types.keys()].find((f) => name === f || name!.startsWith(`${f}_`));
    if (family === undefined) throw new Error(`sample of an undeclared family: ${line}`);
    const labels: Record<string, string> = {};
    if (body) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let m = LABEL.exec(body); m; m = LABEL.exec(body)) {
        labels[m[1]!] = m[2]!;
        consumed = LABEL.lastIndex;
      }
      if (consumed !== body.length) throw new Error(`bad labels: ${line}`);
    }
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.set(key(name!, labels), value);
  }
  return { types, samples, value: (name, labels = {}) => samples.get(key(name, labels)) };
}

import { createHash } from 'node:crypto';

/**
 * The RedisStore's one script: a port of `gcraConsume`/`gcraRefund` run
 * atomically with the server's own clock (`TIME`), so app servers' clocks
 * never matter. State is one hash per key (`tat`, `rej`, `bu`, `lvl`), expired
 * with PEXPIRE when it would be indistinguishable from a fresh key.
 *
 * KEYS[1] the key; ARGV: op ('c' consume | 'r' refund), cost, T (ms per
 * token), burst, penalty after (0 = none), duration, escalate, max, and the
 * call's deadline in server milliseconds (0 = none).
 * Returns { allowed, remaining, reset, retryAfter, blocked, now } with the
 * durations as strings (Lua numbers would be truncated to integers); `now` is
 * the server's clock, from which the store learns its offset to the app's.
 *
 * A consume that runs after its deadline (the caller gave up: Redis was
 * stalled and ran the queued command when it resumed) changes nothing and
 * returns { -1, 0, '0', '0', '0', now }: a request refused or decided by the
 * fallback during an outage is never charged afterwards.
 */
export const GCRA_SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local key = KEYS[1]
local op = ARGV[1]
local cost = tonumber(ARGV[2])
local T = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local after = tonumber(ARGV[5])
local duration = tonumber(ARGV[6])
local escalate = tonumber(ARGV[7])
local max = tonumber(ARGV[8])
local deadline = tonumber(ARGV[9]) or 0
local function f(x) return string.format('%.17g', x) end
if op == 'c' and deadline > 0 and now > deadline then
  return { -1, 0, '0', '0', '0', f(now) }
end
local window = burst * T
local s = redis.call('HMGET', key, 'tat', 'rej', 'bu', 'lvl')
local tat = tonumber(s[1]) or now
local rej = tonumber(s[2]) or 0
local bu = tonumber(s[3]) or 0
local lvl = tonumber(s[4]) or 0
local function save()
  local at = tat
  if after > 0 and lvl > 0 then
    local last = math.min(duration * escalate ^ (lvl - 1), max)
    at = math.max(at, bu + last)
  end
  local ttl = math.ceil(at - now)
  if ttl < 1 then
    redis.call('DEL', key)
    return
  end
  if after > 0 then
    redis.call('HSET', key, 'tat', f(tat), 'rej', rej, 'bu', f(bu), 'lvl', lvl)
  else
    redis.call('HSET', key, 'tat', f(tat))
  end
  redis.call('PEXPIRE', key, ttl)
end
if op == 'r' then
  if s[1] then
    tat = math.max(tat - cost * T, now)
    save()
  end
  return 1
end
if now < bu then
  local wait = bu - now
  return { 0, 0, f(math.max(tat - now, 0)), f(wait), f(wait), f(now) }
end
local base = math.max(tat, now)
local nxt = base + cost * T
local allowAt = nxt - window
if allowAt <= now then
  tat = nxt
  rej = 0
  save()
  return { 1, math.floor((window - (nxt - now)) / T + 1e-9), f(nxt - now), '0', '0', f(now) }
end
local remaining = math.max(math.floor((window - (base - now)) / T + 1e-9), 0)
if after > 0 then
  rej = rej + 1
  if rej >= after then
    local len = math.min(duration * escalate ^ lvl, max)
    bu = now + len
    lvl = lvl + 1
    rej = 0
    save()
    return { 0, remaining, f(base - now), f(len), f(len), f(now) }
  end
  save()
end
return { 0, remaining, f(base - now), f(allowAt - now), '0', f(now) }
`;

/** SHA-1 of {@link GCRA_SCRIPT}, for EVALSHA. */
export const GCRA_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex');

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

/**
 * Several limits on one key in one atomic call: a port of
 * `gcraConsumeLimits`/`gcraRefundLimits`. The key's limits are fields of ONE
 * hash (`t1`…`tn`, plus the shared `rej`, `bu`, `lvl`), so a decision touches
 * one key: one round trip, one hash slot on a cluster, all limits charged or
 * none.
 *
 * KEYS[1] the key; ARGV: op ('c' | 'r'), cost, penalty after (0 = none),
 * duration, escalate, max, deadline (server ms, 0 = none), n, then T and
 * burst of each limit. Returns { allowed, remaining, reset, retryAfter,
 * blocked, now, remaining1, reset1, …, remainingN, resetN } (durations as
 * strings); after its deadline a consume changes nothing and returns -1 first.
 */
export const GCRA_LIMITS_SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local key = KEYS[1]
local op = ARGV[1]
local cost = tonumber(ARGV[2])
local after = tonumber(ARGV[3])
local duration = tonumber(ARGV[4])
local escalate = tonumber(ARGV[5])
local max = tonumber(ARGV[6])
local deadline = tonumber(ARGV[7]) or 0
local n = tonumber(ARGV[8])
local function f(x) return string.format('%.17g', x) end
if op == 'c' and deadline > 0 and now > deadline then
  return { -1, 0, '0', '0', '0', f(now) }
end
local fields = { 'rej', 'bu', 'lvl' }
for i = 1, n do fields[3 + i] = 't' .. i end
local s = redis.call('HMGET', key, unpack(fields))
local rej = tonumber(s[1]) or 0
local bu = tonumber(s[2]) or 0
local lvl = tonumber(s[3]) or 0
local T, B, tat = {}, {}, {}
for i = 1, n do
  T[i] = tonumber(ARGV[7 + 2 * i])
  B[i] = tonumber(ARGV[8 + 2 * i])
  tat[i] = tonumber(s[3 + i]) or now
end
local function save()
  local at = 0
  for i = 1, n do if tat[i] > at then at = tat[i] end end
  if after > 0 and lvl > 0 then
    local last = math.min(duration * escalate ^ (lvl - 1), max)
    at = math.max(at, bu + last)
  end
  local ttl = math.ceil(at - now)
  if ttl < 1 then
    redis.call('DEL', key)
    return
  end
  local args = {}
  if after > 0 then args = { 'rej', rej, 'bu', f(bu), 'lvl', lvl } end
  for i = 1, n do
    args[#args + 1] = 't' .. i
    args[#args + 1] = f(tat[i])
  end
  redis.call('HSET', key, unpack(args))
  redis.call('PEXPIRE', key, ttl)
end
if op == 'r' then
  local any = false
  for i = 1, n do
    if s[3 + i] then
      any = true
      tat[i] = math.max(tat[i] - cost * T[i], now)
    end
  end
  if any then save() end
  return 1
end
local out = { 0, 0, '0', '0', '0', f(now) }
if now < bu then
  local wait = bu - now
  local reset = 0
  for i = 1, n do
    local r = math.max(tat[i] - now, 0)
    if r > reset then reset = r end
    out[5 + 2 * i] = 0
    out[6 + 2 * i] = f(r)
  end
  out[3] = f(reset)
  out[4] = f(wait)
  out[5] = f(wait)
  return out
end
local wait = 0
for i = 1, n do
  local base = math.max(tat[i], now)
  local allowAt = base + cost * T[i] - B[i] * T[i]
  if allowAt - now > wait then wait = allowAt - now end
end
local allowed = wait <= 0
local remaining = nil
local reset = 0
for i = 1, n do
  local base = math.max(tat[i], now)
  local e = base
  if allowed then
    e = base + cost * T[i]
    tat[i] = e
  end
  local left = math.max(math.floor((B[i] * T[i] - (e - now)) / T[i] + 1e-9), 0)
  if remaining == nil or left < remaining then remaining = left end
  if e - now > reset then reset = e - now end
  out[5 + 2 * i] = left
  out[6 + 2 * i] = f(e - now)
end
out[2] = remaining or 0
out[3] = f(reset)
if allowed then
  rej = 0
  save()
  out[1] = 1
  return out
end
out[4] = f(wait)
if after > 0 then
  rej = rej + 1
  if rej >= after then
    local len = math.min(duration * escalate ^ lvl, max)
    bu = now + len
    lvl = lvl + 1
    rej = 0
    out[4] = f(len)
    out[5] = f(len)
  end
  save()
end
return out
`;

/** SHA-1 of {@link GCRA_LIMITS_SCRIPT}. */
export const GCRA_LIMITS_SHA = createHash('sha1').update(GCRA_LIMITS_SCRIPT).digest('hex');

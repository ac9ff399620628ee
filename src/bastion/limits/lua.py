"""Lua scripts of the Redis backend: one script, so one round trip, per stage and phase; ADMIT
and CONCLUDE run the rate-limit and budget scripts of one request together (two round trips
per request instead of four).

The bucket arithmetic is the same as limits/bucket.py. Numbers are written with %.17g so a
level or stamp survives the round trip through a Redis string exactly; replies are integers
(Redis truncates Lua numbers), so durations are returned in whole milliseconds, rounded up.
Time is the Redis server's (TIME) unless the caller passes one, so replicas share one clock.
"""

from __future__ import annotations

_PRELUDE = """
local PERIOD = 60
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.17g', x) end
local function level(key, limit)
  local v = redis.call('HMGET', key, 'v', 's')
  local lv = tonumber(v[1])
  if lv == nil then return limit end
  local elapsed = now - tonumber(v[2])
  if elapsed > 0 then lv = lv + elapsed * limit / PERIOD end
  if lv > limit then lv = limit end
  return lv
end
local function store(key, lv, limit)
  redis.call('HSET', key, 'v', fmt(lv), 's', fmt(now))
  local full = 1
  if limit > 0 then full = (limit - lv) * PERIOD / limit end
  redis.call('PEXPIRE', key, math.ceil(full * 1000) + 1000)
end
"""

# KEYS: per scope i: rpm bucket, tpm bucket, parallel lease zset (3 keys).
# ARGV: now (-1 = server TIME), tokens, rid, lease_ttl_seconds, n, then per scope rpm, tpm, par (-1 = none).
# Reply: {1, 0, 0, 0, req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining, tok_reset_ms}
#     or {0, retry_ms, scope_index (1-based), kind: 1 requests, 2 tokens, 3 parallel, 4 too large}.
ACQUIRE = _PRELUDE + """
local need = tonumber(ARGV[2])
local rid = ARGV[3]
local ttl = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local newr, newt = {}, {}
local rl, rrem, rreset = -1, 0, 0
local tl, trem, treset = -1, 0, 0
for i = 1, n do
  local a = 5 + (i - 1) * 3
  local k = (i - 1) * 3
  local rpm, tpm, par = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  if rpm >= 0 then
    local cur = level(KEYS[k + 1], rpm)
    if cur < 1 then
      if rpm <= 0 then return {0, PERIOD * 1000, i, 1} end
      return {0, math.ceil((1 - cur) * PERIOD * 1000 / rpm), i, 1}
    end
    newr[i] = cur - 1
    local rem = math.floor(cur - 1)
    if rl < 0 or rem < rrem then rl = rpm; rrem = rem; rreset = (rpm - cur + 1) * PERIOD / rpm end
  end
  if tpm >= 0 then
    if need > tpm then return {0, PERIOD * 1000, i, 4} end
    local cur = level(KEYS[k + 2], tpm)
    if cur < need then return {0, math.ceil((need - cur) * PERIOD * 1000 / tpm), i, 2} end
    newt[i] = cur - need
    local rem = math.floor(cur - need)
    if rem < 0 then rem = 0 end
    if tl < 0 or rem < trem then tl = tpm; trem = rem; treset = (tpm - cur + need) * PERIOD / tpm end
  end
  if par >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now)
    if redis.call('ZCARD', KEYS[k + 3]) >= par then return {0, 1000, i, 3} end
  end
end
for i = 1, n do
  local a = 5 + (i - 1) * 3
  local k = (i - 1) * 3
  if newr[i] then store(KEYS[k + 1], newr[i], tonumber(ARGV[a + 1])) end
  if newt[i] then store(KEYS[k + 2], newt[i], tonumber(ARGV[a + 2])) end
  if tonumber(ARGV[a + 3]) >= 0 then
    redis.call('ZADD', KEYS[k + 3], now + ttl, rid)
    redis.call('PEXPIRE', KEYS[k + 3], math.ceil(ttl * 1000) + 1000)
  end
end
return {1, 0, 0, 0, rl, rrem, math.ceil(rreset * 1000), tl, trem, math.ceil(treset * 1000)}
"""

# KEYS: per scope i: tpm bucket, parallel lease zset (2 keys).
# ARGV: now (-1 = server TIME), rid, token_delta, n, then per scope tpm (-1 = none), par flag (0/1).
RELEASE = _PRELUDE + """
local rid = ARGV[2]
local delta = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
for i = 1, n do
  local a = 4 + (i - 1) * 2
  local k = (i - 1) * 2
  local tpm = tonumber(ARGV[a + 1])
  if tpm >= 0 and delta ~= 0 then
    local lv = level(KEYS[k + 1], tpm) - delta
    if lv > tpm then lv = tpm end
    store(KEYS[k + 1], lv, tpm)
  end
  if ARGV[a + 2] == '1' then redis.call('ZREM', KEYS[k + 2], rid) end
end
return 1
"""

# Renewal of the leases and reservations a live process still holds (limits/renewal.py). A member
# Redis no longer holds is put back (a reservation with its amount) only when its flag is 1: the
# request still runs and has not started to conclude; else only members still present are touched.
# KEYS: m lease zsets, then per reservation its zset and budget hash. ARGV: now (-1 = server TIME),
# lease ttl, m, reservation expiry, then per lease: member (request id), flag; then per
# reservation: member, amount, flag.
RENEW = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local ttl = tonumber(ARGV[2])
local m = tonumber(ARGV[3])
local expiry = tonumber(ARGV[4])
for i = 1, m do
  local member, back = ARGV[3 + i * 2], ARGV[4 + i * 2]
  if back == '1' or redis.call('ZSCORE', KEYS[i], member) then
    redis.call('ZADD', KEYS[i], now + ttl, member)
    redis.call('PEXPIRE', KEYS[i], math.ceil(ttl * 1000) + 1000)
  end
end
local a = 4 + m * 2
for j = 0, (#KEYS - m) / 2 - 1 do
  local z, h = KEYS[m + j * 2 + 1], KEYS[m + j * 2 + 2]
  local member, amount, back = ARGV[a + j * 3 + 1], tonumber(ARGV[a + j * 3 + 2]), ARGV[a + j * 3 + 3]
  if redis.call('ZSCORE', z, member) then
    redis.call('ZADD', z, expiry, member)
  elseif back == '1' then
    redis.call('ZADD', z, expiry, member)
    redis.call('HINCRBY', h, 'reserved', amount)
  end
end
return 1
"""

# A budget hash is trusted only once seeded from the store's settled spend (field `seeded`):
# a hash Redis lost (restart without persistence, eviction) would otherwise start again at 0.
# KEYS, ARGV: RESERVE's. Reply: nil when every slot is seeded, else {2, slot indexes (1-based)}.
_UNSEEDED = """
local function unseeded(KEYS, ARGV)
  local missing = {2}
  for i = 1, tonumber(ARGV[5]) do
    if redis.call('HEXISTS', KEYS[(i - 1) * 2 + 1], 'seeded') == 0 then missing[#missing + 1] = i end
  end
  if #missing > 1 then return missing end
  return nil
end
"""

# KEYS: budget hashes. ARGV: per hash the store's settled spend, expire_at (0 = never).
# Spend = max(what Redis counted since the hash was created, the store's): both are lower bounds.
SEED = """
for i = 1, #KEYS do
  local h = KEYS[i]
  if redis.call('HEXISTS', h, 'seeded') == 0 then
    local stored = tonumber(ARGV[(i - 1) * 2 + 1])
    if stored > (tonumber(redis.call('HGET', h, 'spent')) or 0) then redis.call('HSET', h, 'spent', stored) end
    redis.call('HSET', h, 'seeded', 1)
    local at = tonumber(ARGV[(i - 1) * 2 + 2])
    if at > 0 then redis.call('EXPIREAT', h, at) end
  end
end
return 1
"""

# KEYS: per slot i: budget hash {spent, reserved, seeded}, reservation zset (member "rid|amount").
# ARGV: now, amount, member, reservation_expiry, n, then per slot limit, expire_at (0 = never).
# Reply: {1}, {0, slot_index (1-based), spent, reserved}, or {2, unseeded slot indexes} (nothing changed).
RESERVE = _UNSEEDED + """
local u = unseeded(KEYS, ARGV)
if u then return u end
local now = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local member = ARGV[3]
local expiry = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
for i = 1, n do
  local h, z = KEYS[(i - 1) * 2 + 1], KEYS[(i - 1) * 2 + 2]
  local stale = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, m in ipairs(stale) do
    local amt = tonumber(string.match(m, '|(%d+)$')) or 0
    redis.call('HINCRBY', h, 'reserved', -amt)
    redis.call('ZREM', z, m)
  end
  local v = redis.call('HMGET', h, 'spent', 'reserved')
  local spent, reserved = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  if spent + reserved + amount > tonumber(ARGV[5 + (i - 1) * 2 + 1]) then
    return {0, i, spent, reserved}
  end
end
for i = 1, n do
  local h, z = KEYS[(i - 1) * 2 + 1], KEYS[(i - 1) * 2 + 2]
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('ZADD', z, expiry, member)
  local at = tonumber(ARGV[5 + (i - 1) * 2 + 2])
  if at > 0 then
    redis.call('EXPIREAT', h, at)
    redis.call('EXPIREAT', z, at)
  end
end
return {1}
"""

# KEYS: m reserved slots (hash, zset) pairs, then k spend hashes.
# ARGV: member, amount, actual, m, k, then per spend hash expire_at (0 = never).
SETTLE = """
local member = ARGV[1]
local amount = tonumber(ARGV[2])
local actual = tonumber(ARGV[3])
local m, k = tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 1, m do
  if redis.call('ZREM', KEYS[(i - 1) * 2 + 2], member) == 1 then
    redis.call('HINCRBY', KEYS[(i - 1) * 2 + 1], 'reserved', -amount)
  end
end
if actual > 0 then
  for j = 1, k do
    local h = KEYS[2 * m + j]
    redis.call('HINCRBY', h, 'spent', actual)
    local at = tonumber(ARGV[5 + j])
    if at > 0 then redis.call('EXPIREAT', h, at) end
  end
end
return 1
"""


def _as_function(name: str, body: str) -> str:
    """A script as a local Lua function of its own KEYS and ARGV (the parameters shadow the globals)."""
    return f"local function {name}(KEYS, ARGV)\n{body}\nend\n"


# Split the combined KEYS / ARGV: ARGV[1], ARGV[2] = how many keys and args belong to the first script.
_SPLIT = """
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local k1, a1, k2, a2 = {}, {}, {}, {}
for i = 1, #KEYS do if i <= nk then k1[i] = KEYS[i] else k2[i - nk] = KEYS[i] end end
for i = 3, #ARGV do if i - 2 <= na then a1[i - 2] = ARGV[i] else a2[i - 2 - na] = ARGV[i] end end
"""

# ACQUIRE, then RESERVE only if ACQUIRE admitted: atomically, as the two calls in sequence would be.
# KEYS / ARGV: nk, na, then ACQUIRE's keys and args, then RESERVE's. Reply: RESERVE's {2, ...}
# when a budget is unseeded (nothing changed), ACQUIRE's refusal (4 items), or ACQUIRE's 10 items
# followed by RESERVE's reply.
ADMIT = _as_function("acquire", ACQUIRE) + _as_function("reserve", RESERVE) + _SPLIT + _UNSEEDED + """
if #a2 > 0 then
  local u = unseeded(k2, a2)
  if u then return u end
end
local r = acquire(k1, a1)
if r[1] ~= 1 then return r end
for _, x in ipairs(reserve(k2, a2)) do r[#r + 1] = x end
return r
"""

# RELEASE and SETTLE of one request. KEYS / ARGV: nk, na, then RELEASE's keys and args (none: no
# release), then SETTLE's (none: no settlement).
CONCLUDE = _as_function("release", RELEASE) + _as_function("settle", SETTLE) + _SPLIT + """
if #a1 > 0 then release(k1, a1) end
if #a2 > 0 then settle(k2, a2) end
return 1
"""

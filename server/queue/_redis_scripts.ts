/**
 * Lua scripts of the Redis store. Each runs atomically in Redis, so replicas sharing one Redis
 * never see a half-done enqueue, lease or ack.
 *
 * Keys of channel C under prefix P (the braces are a Redis Cluster hash tag, so one channel's
 * keys share a slot): `P{C}:s` the stream (one entry per delivery, fields d=id, h=head, m=meta,
 * n=body size, z=accounted size, t=received at), `P{C}:ids` hash id → stream id, `P{C}:st` hash
 * stream id → `attempts|leaseUntil|notBefore|owner`, `P{C}:m` hash bytes/dropped/settings,
 * `P{C}:b:<id>` the body (a string, written with APPEND as it streams in). Global: `Pchannels`
 * (set of channels with deliveries), `Ptotal` (bytes in the store).
 *
 * KEYS: 1 stream, 2 ids, 3 st, 4 m, 5 channels, 6 total. ARGV 1 body key prefix, 2 channel.
 *
 * @module
 */

const COMMON = `
local s, ids, st, m, chans, total = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local bprefix, channel = ARGV[1], ARGV[2]
local function field(e, name)
  local f = e[2]
  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
  return nil
end
local function getState(sid)
  local v = redis.call('HGET', st, sid)
  if not v then return 0, 0, 0, '' end
  local a, u, b, o = string.match(v, '^(%d+)|(%d+)|(%d+)|(.*)$')
  return tonumber(a), tonumber(u), tonumber(b), o
end
local function setState(sid, a, u, b, o)
  redis.call('HSET', st, sid, string.format('%d|%d|%d|%s', a, u, b, o))
end
local function dropEntry(e)
  local d = field(e, 'd')
  local z = tonumber(field(e, 'z'))
  redis.call('XDEL', s, e[1])
  redis.call('HDEL', ids, d)
  redis.call('HDEL', st, e[1])
  redis.call('DEL', bprefix .. d)
  redis.call('HINCRBY', m, 'bytes', -z)
  redis.call('DECRBY', total, z)
  return z
end
local function tidy()
  if redis.call('XLEN', s) == 0 then
    redis.call('DEL', s, ids, st)
    redis.call('SREM', chans, channel)
    local dropped = tonumber(redis.call('HGET', m, 'dropped') or '0')
    if dropped == 0 and redis.call('HEXISTS', m, 'settings') == 0 then redis.call('DEL', m) end
  end
end
local function expire(now, maxAge)
  local cutoff = now - maxAge
  local n = 0
  while true do
    local e = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)[1]
    if not e or tonumber(field(e, 't')) >= cutoff then break end
    dropEntry(e)
    n = n + 1
  end
  if n > 0 then redis.call('HINCRBY', m, 'dropped', n) end
  return n
end
`;

/**
 * ARGV 3 id, 4 head, 5 meta, 6 body size, 7 size, 8 now, 9 maxAge, 10 maxBytes, 11 maxCount,
 * 12 maxTotal (-1: none). Returns `{streamId, dropped}`; errors `DUPLICATE`, `FULL`, `BODY_LOST`.
 */
export const ENQUEUE: string = COMMON + `
local id, head, meta = ARGV[3], ARGV[4], ARGV[5]
local bodySize, size, now = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local maxAge, maxBytes, maxCount = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local maxTotal = tonumber(ARGV[12])
if redis.call('HEXISTS', ids, id) == 1 then return redis.error_reply('DUPLICATE') end
if bodySize > 0 and redis.call('STRLEN', bprefix .. id) ~= bodySize then
  return redis.error_reply('BODY_LOST')
end
expire(now, maxAge)
if size > maxBytes then tidy() return redis.error_reply('FULL channel') end
local count = redis.call('XLEN', s)
local bytes = tonumber(redis.call('HGET', m, 'bytes') or '0')
local victims = {}
local freed = 0
local cursor = '-'
while count + 1 > maxCount or bytes + size > maxBytes do
  local batch = redis.call('XRANGE', s, cursor, '+', 'COUNT', 100)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    if count + 1 <= maxCount and bytes + size <= maxBytes then break end
    victims[#victims + 1] = e
    local z = tonumber(field(e, 'z'))
    count = count - 1
    bytes = bytes - z
    freed = freed + z
    cursor = '(' .. e[1]
  end
end
local t = tonumber(redis.call('GET', total) or '0')
if maxTotal >= 0 and t - freed + size > maxTotal then
  tidy()
  return redis.error_reply(string.format('FULL store %d of %d bytes', t, maxTotal))
end
for _, e in ipairs(victims) do dropEntry(e) end
if #victims > 0 then redis.call('HINCRBY', m, 'dropped', #victims) end
local sid = redis.call('XADD', s, '*', 'd', id, 'h', head, 'm', meta, 'n', ARGV[6], 'z', ARGV[7],
  't', ARGV[8])
redis.call('HSET', ids, id, sid)
redis.call('HINCRBY', m, 'bytes', size)
redis.call('INCRBY', total, size)
redis.call('SADD', chans, channel)
if bodySize > 0 then redis.call('PERSIST', bprefix .. id) end
return {sid, #victims}
`;

/**
 * ARGV 3 consumer, 4 limit, 5 now, 6 leaseMs, 7 maxAge, 8 most entries to scan. Returns a list
 * of `{id, head, meta, bodySize, receivedAt, attempts, leaseUntil}`.
 */
export const LEASE: string = COMMON + `
local consumer, limit, now = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local leaseMs, maxAge, cap = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if expire(now, maxAge) > 0 then tidy() end
local out = {}
local cursor = '-'
local scanned = 0
local done = false
while not done and scanned < cap do
  local batch = redis.call('XRANGE', s, cursor, '+', 'COUNT', 100)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    cursor = '(' .. e[1]
    scanned = scanned + 1
    local a, u, b, o = getState(e[1])
    if o ~= '' and u > now then
      if o ~= consumer then done = true break end
    elseif b > now then
      done = true
      break
    else
      a = a + 1
      setState(e[1], a, now + leaseMs, b, consumer)
      out[#out + 1] = {field(e, 'd'), field(e, 'h'), field(e, 'm'), field(e, 'n'), field(e, 't'),
        string.format('%d', a), string.format('%d', now + leaseMs)}
      if #out >= limit then done = true break end
    end
  end
end
return out
`;

/** ARGV 3… ids (one or many: a pipelined drain's acks). Returns how many were deleted. */
export const ACK: string = COMMON + `
local n = 0
for i = 3, #ARGV do
  local sid = redis.call('HGET', ids, ARGV[i])
  if sid then
    local e = redis.call('XRANGE', s, sid, sid)[1]
    if e then
      dropEntry(e)
      n = n + 1
    else
      redis.call('HDEL', ids, ARGV[i])
    end
  end
end
tidy()
return n
`;

/**
 * ARGV 3 id, 4 now, 5 delay (-1: backoff), 6 retry base, 7 retry max, 8 most entries to scan.
 * Returns 1 when given back, 0 when not there.
 */
export const NACK: string = COMMON + `
local sid = redis.call('HGET', ids, ARGV[3])
if not sid then return 0 end
local now, delay = tonumber(ARGV[4]), tonumber(ARGV[5])
local a, u, b, o = getState(sid)
if delay < 0 then
  delay = math.min(tonumber(ARGV[7]), tonumber(ARGV[6]) * 2 ^ math.min(math.max(a - 1, 0), 30))
end
setState(sid, a, 0, now + delay, '')
if o ~= '' then
  local cursor = '(' .. sid
  local scanned = 0
  local cap = tonumber(ARGV[8])
  while scanned < cap do
    local batch = redis.call('XRANGE', s, cursor, '+', 'COUNT', 100)
    if #batch == 0 then break end
    for _, e in ipairs(batch) do
      cursor = '(' .. e[1]
      scanned = scanned + 1
      local ea, eu, eb, eo = getState(e[1])
      if eo == o then setState(e[1], ea, 0, eb, '') end
    end
  end
end
return 1
`;

/** ARGV 3 consumer. Returns how many leases were released. */
export const RELEASE: string = COMMON + `
local all = redis.call('HGETALL', st)
local n = 0
for i = 1, #all, 2 do
  local a, u, b, o = string.match(all[i + 1], '^(%d+)|(%d+)|(%d+)|(.*)$')
  if o == ARGV[3] then
    redis.call('HSET', st, all[i], string.format('%s|0|%s|', a, b))
    n = n + 1
  end
end
return n
`;

/** ARGV 3 now, 4 maxAge. Drops expired deliveries; returns `{dropped, count, bytes}`. */
export const EXPIRE: string = COMMON + `
local n = expire(tonumber(ARGV[3]), tonumber(ARGV[4]))
local count = redis.call('XLEN', s)
local bytes = tonumber(redis.call('HGET', m, 'bytes') or '0')
tidy()
return {n, count, bytes}
`;

/** Returns the drop counter and resets it. */
export const TAKE_DROPPED: string = COMMON + `
local n = tonumber(redis.call('HGET', m, 'dropped') or '0')
if n > 0 then
  redis.call('HSET', m, 'dropped', 0)
  tidy()
end
return n
`;

/** ARGV 3 settings JSON, or absent to delete them. */
export const SET_SETTINGS: string = COMMON + `
if ARGV[3] then
  redis.call('HSET', m, 'settings', ARGV[3])
else
  redis.call('HDEL', m, 'settings')
  tidy()
end
return 1
`;

/** ARGV 3 id. Returns the body size, or -1 when the delivery is gone. */
export const BODY_SIZE: string = COMMON + `
local sid = redis.call('HGET', ids, ARGV[3])
if not sid then return -1 end
local e = redis.call('XRANGE', s, sid, sid)[1]
if not e then return -1 end
return tonumber(field(e, 'n'))
`;

/** KEYS 1 body key; ARGV 1 chunk. Appends to a body being written; `BODY_LOST` if it expired. */
export const APPEND: string = `
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('BODY_LOST') end
return redis.call('APPEND', KEYS[1], ARGV[1])
`;

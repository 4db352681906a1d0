-- sse-bridge cluster-wide connection pool: the shared prelude.
--
-- This file is never run alone. The C side sends every pool script as ONE
-- script made of this file's text, a newline, and the script's text
-- (admit.lua, release.lua or renew.lua), loads it with SCRIPT LOAD, runs it
-- with EVALSHA and loads it again on NOSCRIPT. Only `local` definitions live
-- here, so the concatenation stays one chunk with no global side effects.
--
-- Keys (P = the key prefix, passed in ARGV; default "{sse}:"):
--   P.."bridges"     ZSET  member = bridge id, score = lease expiry (ms)
--   P.."total"       STR   cluster-wide number of admitted connections
--   P.."ips"         HASH  ip -> cluster-wide count
--   P.."held:"..id   HASH  what bridge id holds: "_total" -> n, ip -> n
--   P.."stats:"..id  HASH  the bridge's mirrored health counters (renew)
--
-- Keys of OTHER bridges (their held: and stats: hashes, found through the
-- ZSET) are touched without being declared in KEYS. That is fine on a single
-- Redis, and on a Redis Cluster too because every key shares the hash tag in
-- P ("{sse}"), so they all live in the slot of the declared keys. A prefix
-- without a hash tag would break these scripts on a Cluster (cross-slot).
--
-- Time is Redis's own clock (TIME), never the caller's: replicas' clocks
-- do not matter.

-- At most this many expired bridges are reaped per script call; the rest go
-- on the next call (keeps one call's work bounded).
local REAP_MAX = 100

-- Aborts the script with a clean error reply (nothing has been written yet
-- when the argument checks run: they all come before the first write).
local function fail(msg)
    error({err = 'ERR sse-bridge pool: ' .. msg})
end

-- A Lua number as a decimal integer string for redis.call (never "1e+15").
local function istr(n)
    return string.format('%d', n)
end

-- ARGV value as an integer >= min, else the script fails naming it.
local function int_arg(v, name, min)
    local n = tonumber(v)
    if v == nil or not string.match(v, '^%-?%d+$') or n == nil or n < min then
        fail('bad ' .. name .. ' ' .. tostring(v))
    end
    return n
end

-- A client ip as a field name: non-empty and never the "_total" field of held.
local function check_ip(ip)
    if ip == nil or ip == '' or ip == '_total' then
        fail('bad ip ' .. tostring(ip))
    end
end

-- The declared KEYS must be the ones the prefix and id name: catches a C side
-- that builds them differently from the keys these scripts derive from P.
local function check_keys(P, id, nkeys)
    if P == nil or P == '' then fail('empty key prefix') end
    if id == nil or id == '' then fail('empty bridge id') end
    local want = {P .. 'bridges', P .. 'total', P .. 'ips', P .. 'held:' .. id, P .. 'stats:' .. id}
    if #KEYS ~= nkeys then fail('expected ' .. nkeys .. ' keys, got ' .. #KEYS) end
    for i = 1, nkeys do
        if KEYS[i] ~= want[i] then
            fail('KEYS[' .. i .. '] is ' .. tostring(KEYS[i]) .. ', expected ' .. want[i])
        end
    end
end

-- Redis's clock in ms. Effects replication first (a no-op on Redis >= 5,
-- required on 3.2/4 to write after the non-deterministic TIME).
local function now_ms()
    if redis.replicate_commands then pcall(redis.replicate_commands) end
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function get_total(P)
    return tonumber(redis.call('GET', P .. 'total')) or 0
end

local function get_ip(P, ip)
    return tonumber(redis.call('HGET', P .. 'ips', ip)) or 0
end

-- total -= n, never below 0.
local function sub_total(P, n)
    if n <= 0 then return end
    local t = redis.call('DECRBY', P .. 'total', istr(n))
    if t < 0 then redis.call('SET', P .. 'total', '0') end
end

-- ips[ip] -= n, the field deleted when it reaches <= 0.
local function sub_ip(P, ip, n)
    if n <= 0 then return end
    local c = redis.call('HINCRBY', P .. 'ips', ip, istr(-n))
    if c <= 0 then redis.call('HDEL', P .. 'ips', ip) end
end

-- Takes everything bridge id holds out of the cluster-wide counts and
-- deletes its held: hash. (Another bridge's held: key when reaping: see the
-- hash-tag note above.)
local function drop_held(P, id)
    local hkey = P .. 'held:' .. id
    local h = redis.call('HGETALL', hkey)
    for i = 1, #h, 2 do
        local f, n = h[i], tonumber(h[i + 1]) or 0
        if f == '_total' then
            sub_total(P, n)
        else
            sub_ip(P, f, n)
        end
    end
    redis.call('DEL', hkey)
end

-- Reaps bridges whose lease expired (score <= now): their held counts leave
-- total and ips, their held: and stats: keys go, and so does their ZSET
-- entry. At most REAP_MAX per call. May reap the calling bridge itself.
-- Returns the number reaped.
local function reap(P, now)
    local ids = redis.call('ZRANGEBYSCORE', P .. 'bridges', '-inf', istr(now), 'LIMIT', 0, REAP_MAX)
    for _, id in ipairs(ids) do
        drop_held(P, id)
        redis.call('DEL', P .. 'stats:' .. id)
        redis.call('ZREM', P .. 'bridges', id)
    end
    return #ids
end

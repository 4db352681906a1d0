-- release.lua: releases one connection of client ip on bridge id. Runs
-- after reap.lua's text (see reap.lua).
--
-- KEYS[1] = P.."bridges", KEYS[2] = P.."total", KEYS[3] = P.."ips",
-- KEYS[4] = P.."held:"..id
-- ARGV[1] = id, ARGV[2] = ip, ARGV[3] = P
--
-- Expired bridges are reaped first. Then, only when the bridge holds a
-- connection of ip (held[ip] > 0), one is taken off held[ip], held _total,
-- ips[ip] and total. Otherwise nothing changes: the counts were already
-- reaped or flushed (and a later renew re-asserts only the live ones).
-- The lease is not extended. Returns {total, ipcount} after.

local id, ip, P = ARGV[1], ARGV[2], ARGV[3]
check_keys(P, id, 4)
check_ip(ip)

local now = now_ms()
reap(P, now)

local held = tonumber(redis.call('HGET', KEYS[4], ip)) or 0
if held > 0 then
    if redis.call('HINCRBY', KEYS[4], ip, -1) <= 0 then
        redis.call('HDEL', KEYS[4], ip)
    end
    if redis.call('HINCRBY', KEYS[4], '_total', -1) <= 0 then
        redis.call('HDEL', KEYS[4], '_total')
    end
    sub_ip(P, ip, 1)
    sub_total(P, 1)
end
return {get_total(P), get_ip(P, ip)}

-- admit.lua: admits one connection of client ip on bridge id, within the
-- cluster-wide caps. Runs after reap.lua's text (see reap.lua).
--
-- KEYS[1] = P.."bridges", KEYS[2] = P.."total", KEYS[3] = P.."ips",
-- KEYS[4] = P.."held:"..id
-- ARGV[1] = id, ARGV[2] = client ip, ARGV[3] = max_total,
-- ARGV[4] = max_per_ip, ARGV[5] = lease_ms, ARGV[6] = P
--
-- Returns {code, total, ipcount, reason}:
--   { 1, total_after, ipcount_after, "ok"}     admitted and counted
--   { 0, total, ipcount, "total"}              cluster-wide cap reached
--   { 0, total, ipcount, "ip"}                 per-ip cap reached
--   {-1, total, ipcount, "unregistered"}       id has no lease (never
--       registered, reaped, or Redis flushed): nothing counted; the bridge
--       runs renew.lua (re-asserting its live counts) and sends admit again.
-- Expired bridges (any, the caller included) are reaped first.

local id, ip, P = ARGV[1], ARGV[2], ARGV[6]
check_keys(P, id, 4)
check_ip(ip)
local max_total = int_arg(ARGV[3], 'max_total', 0)
local max_ip = int_arg(ARGV[4], 'max_per_ip', 0)
local lease_ms = int_arg(ARGV[5], 'lease_ms', 1)

local now = now_ms()
reap(P, now)

local total = get_total(P)
local ipc = get_ip(P, ip)
if not redis.call('ZSCORE', KEYS[1], id) then
    return {-1, total, ipc, 'unregistered'}
end
if total >= max_total then
    return {0, total, ipc, 'total'}
end
if ipc >= max_ip then
    return {0, total, ipc, 'ip'}
end

total = redis.call('INCR', KEYS[2])
ipc = redis.call('HINCRBY', KEYS[3], ip, 1)
redis.call('HINCRBY', KEYS[4], '_total', 1)
redis.call('HINCRBY', KEYS[4], ip, 1)
redis.call('ZADD', KEYS[1], istr(now + lease_ms), id)
return {1, total, ipc, 'ok'}

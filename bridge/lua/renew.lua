-- renew.lua: extends bridge id's lease, mirrors its health counters, and
-- re-asserts its live connections when its lease was lost. Runs after
-- reap.lua's text (see reap.lua).
--
-- KEYS[1] = P.."bridges", KEYS[2] = P.."total", KEYS[3] = P.."ips",
-- KEYS[4] = P.."held:"..id, KEYS[5] = P.."stats:"..id
-- ARGV[1] = id, ARGV[2] = lease_ms, ARGV[3] = P, ARGV[4] = force (0 or 1:
-- re-assert even when id holds a lease: after a reconnect the bridge cannot
-- know whether an admit or release in flight ran), ARGV[5] = nstats,
-- then nstats pairs (field, value) of this bridge's counters,
-- then pairs (ip, count) of this bridge's LIVE connections (to the end).
--
-- Steps: reap expired bridges (possibly the caller itself). If id is not in
-- the ZSET (never registered, reaped after a partition, Redis restarted
-- empty or flushed), its live connections are counted again: whatever a
-- stale held: hash still holds is first taken out of total/ips and the hash
-- deleted, then each live (ip, n) is added to ips[ip], total, held[ip] and
-- held _total (no cap applies: those connections are open already);
-- reasserted = 1. If id IS in the ZSET its held counts are trusted and the
-- live pairs are ignored (no double counting). Then the lease becomes
-- now + lease_ms and the stats hash is replaced, expiring at 3 x lease_ms.
--
-- Returns {reasserted, nbridges, total, {field1, sum1, field2, sum2, ...}}:
-- nbridges = bridges with an unexpired lease, sums = for every stats field
-- holding an integer (optional '-' and digits; other values such as a
-- version string are skipped) the sum over those bridges, fields sorted.
-- Other bridges' stats: keys are read without being in KEYS (see reap.lua).

local id, P = ARGV[1], ARGV[3]
check_keys(P, id, 5)
local lease_ms = int_arg(ARGV[2], 'lease_ms', 1)
local force = int_arg(ARGV[4], 'force', 0) == 1
local nstats = int_arg(ARGV[5], 'nstats', 0)
local live_from = 6 + 2 * nstats
if live_from - 1 > #ARGV then fail('nstats ' .. nstats .. ' but only ' .. (#ARGV - 5) .. ' values follow') end
if (#ARGV - live_from + 1) % 2 ~= 0 then fail('odd number of live (ip, count) values') end
for i = live_from, #ARGV, 2 do
    check_ip(ARGV[i])
    int_arg(ARGV[i + 1], 'live count for ' .. ARGV[i], 0)
end

local now = now_ms()
reap(P, now)

local reasserted = 0
if force or not redis.call('ZSCORE', KEYS[1], id) then
    drop_held(P, id)
    local sum = 0
    for i = live_from, #ARGV, 2 do
        local ip, n = ARGV[i], tonumber(ARGV[i + 1])
        if n > 0 then
            redis.call('HINCRBY', KEYS[3], ip, istr(n))
            redis.call('HINCRBY', KEYS[4], ip, istr(n))
            sum = sum + n
        end
    end
    if sum > 0 then
        redis.call('INCRBY', KEYS[2], istr(sum))
        redis.call('HSET', KEYS[4], '_total', istr(sum))
    end
    reasserted = 1
end
redis.call('ZADD', KEYS[1], istr(now + lease_ms), id)

redis.call('DEL', KEYS[5])
if nstats > 0 then
    for i = 6, live_from - 1, 2 do
        redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
    end
    redis.call('PEXPIRE', KEYS[5], istr(3 * lease_ms))
end

local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. istr(now), '+inf')
local sums, fields = {}, {}
for _, b in ipairs(members) do
    local h = redis.call('HGETALL', P .. 'stats:' .. b)
    for i = 1, #h, 2 do
        local v = h[i + 1]
        if string.match(v, '^%-?%d+$') then
            local f = h[i]
            if sums[f] == nil then
                sums[f] = 0
                fields[#fields + 1] = f
            end
            sums[f] = sums[f] + tonumber(v)
        end
    end
end
table.sort(fields)
local flat = {}
for _, f in ipairs(fields) do
    flat[#flat + 1] = f
    flat[#flat + 1] = sums[f]
end
return {reasserted, #members, get_total(P), flat}

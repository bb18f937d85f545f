-- wrk script: POST /reservations on distinct free seat/slots of the load-test branch.
-- Each thread walks its own sequence of (seat, quarter hour): seat 1001 + i % SEATS, slot i / SEATS,
-- interleaved between threads, so bookings do not conflict (the figure is the booking path, not 409s).
local seats = tonumber(os.getenv("SEATS") or "5000")
local base = tonumber(os.getenv("BASE") or "0") -- first quarter hour, seconds since the epoch
-- One token per line in TOKENS_FILE: requests rotate over the students.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do table.insert(tokens, line) end
local threads = tonumber(os.getenv("THREADS") or "2") -- must equal wrk -t
local counter = 0

-- setup runs in the main Lua state; each thread then has its own state, hence "id" and THREADS.
function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

function init(args)
    i = id
    step = threads
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
end

local function iso(t)
    return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

function request()
    local seat = 1001 + (i % seats)
    local start = base + math.floor(i / seats) * 900
    i = i + step
    local body = string.format('{"seat_id":%d,"start_time":"%s","end_time":"%s"}', seat, iso(start), iso(start + 900))
    local headers = { ["Authorization"] = "Bearer " .. tokens[math.floor(i / step) % #tokens + 1] }
    return wrk.format(nil, "/reservations", headers, body)
end

statuses = {}
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    io.write(string.format("p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
end

-- wrk: every request books a slot no other request asks for (a distinct seat and quarter hour
-- of the Load Test Library), so that each 201 is a real durable write, not a 409.
-- Environment: BOOK_TOKENS (a file of bearer tokens, one a line), BOOK_BASE (unix seconds of the
-- first slot, a quarter hour), BOOK_SEATS (how many seats, from BOOK_FIRST_SEAT, default 1001: the
-- load-test seats), WRK_THREADS (wrk's -t).
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  count = tonumber(os.getenv("WRK_THREADS") or "2")
  base = tonumber(os.getenv("BOOK_BASE"))
  seats = tonumber(os.getenv("BOOK_SEATS") or "2000")
  first_seat = tonumber(os.getenv("BOOK_FIRST_SEAT") or "1001")
  tokens = {}
  for line in io.lines(os.getenv("BOOK_TOKENS")) do tokens[#tokens + 1] = "Bearer " .. line end
  n = 0
  created = 0
  other = 0
end

function request()
  local k = n * count + id
  n = n + 1
  local start = base + math.floor(k / seats) * 900
  local body = string.format('{"seat_id":%d,"start_time":"%s","end_time":"%s"}', first_seat + k % seats,
    os.date("!%Y-%m-%dT%H:%M:%SZ", start), os.date("!%Y-%m-%dT%H:%M:%SZ", start + 900))
  return wrk.format("POST", "/reservations",
    { ["Content-Type"] = "application/json", ["Authorization"] = tokens[k % #tokens + 1] }, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("created %d other %d\n", c, o))
end

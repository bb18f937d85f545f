-- wrk: a student's seat search (SEARCH_PATH) with a bearer token (SEARCH_TOKEN), or any listing
-- answering "count" and "total" (e.g. /reservations/mine: then "seats" are its items). Counts answers
-- other than 200 and reads every 200's seat count and size: done() prints
-- "other N" and "answers seats MIN..MAX bytes MIN..MAX", which the scripts check against the
-- seats the figure names (a search answering fewer seats measures something else).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  path = os.getenv("SEARCH_PATH")
  headers = { ["Authorization"] = "Bearer " .. os.getenv("SEARCH_TOKEN") }
  other = 0
  min_seats, max_seats, min_bytes, max_bytes = -1, -1, -1, -1
end

function request()
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  if status ~= 200 then
    other = other + 1
    return
  end
  -- The count is in the answer's tail (after the list; then "total" and, for seats, "next_cursor"):
  -- read the tail only (a scan of every body would load wrk, not the server).
  local seats = tonumber(string.match(string.sub(body, -80), '"count":(%d+),"total"') or "-1")
  local bytes = string.len(body)
  if min_seats < 0 or seats < min_seats then min_seats = seats end
  if seats > max_seats then max_seats = seats end
  if min_bytes < 0 or bytes < min_bytes then min_bytes = bytes end
  if bytes > max_bytes then max_bytes = bytes end
end

function done(summary, latency, requests)
  local o, ls, hs, lb, hb = 0, -1, -1, -1, -1
  for _, t in ipairs(threads) do
    o = o + t:get("other")
    local s1, s2, b1, b2 = t:get("min_seats"), t:get("max_seats"), t:get("min_bytes"), t:get("max_bytes")
    if s1 >= 0 and (ls < 0 or s1 < ls) then ls = s1 end
    if s2 > hs then hs = s2 end
    if b1 >= 0 and (lb < 0 or b1 < lb) then lb = b1 end
    if b2 > hb then hb = b2 end
  end
  io.write(string.format("other %d\n", o))
  io.write(string.format("answers seats %d..%d bytes %d..%d\n", ls, hs, lb, hb))
end

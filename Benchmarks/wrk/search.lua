-- wrk: a student's seat search, one area of 100 seats with a one-hour window (SEARCH_PATH), with
-- a bearer token (SEARCH_TOKEN); counts answers other than 200.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  path = os.getenv("SEARCH_PATH")
  headers = { ["Authorization"] = "Bearer " .. os.getenv("SEARCH_TOKEN") }
  other = 0
end

function request()
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  if status ~= 200 then other = other + 1 end
end

function done(summary, latency, requests)
  local o = 0
  for _, t in ipairs(threads) do o = o + t:get("other") end
  io.write(string.format("other %d\n", o))
end

-- wrk script: POST realistic CustomerCreated deliveries, each one unique.
--   wrk -s bench/webhook.lua URL -- TEMPLATE_FILE NONCE
-- TEMPLATE_FILE holds one delivery with @K@ wherever the request's unique key goes
-- (message id, customer id, email); the key is NONCE (4 hex digits, one per wrk
-- run), the thread and a counter, so no request is a duplicate of another.
-- done() prints one line "BENCH_JSON {...}" with the counts and latency percentiles.

local threads_made = 0

function setup(thread)
  threads_made = threads_made + 1
  thread:set("tid", threads_made)
end

local pieces = {}
local counter = 0
local nonce = "0000"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  local f = assert(io.open(args[1], "r"))
  local text = f:read("*a")
  f:close()
  local start = 1
  while true do
    local i, j = string.find(text, "@K@", start, true)
    if not i then break end
    table.insert(pieces, string.sub(text, start, i - 1))
    start = j + 1
  end
  table.insert(pieces, string.sub(text, start))
  nonce = args[2] or nonce
end

function request()
  counter = counter + 1
  local key = string.format("%s-%04x-8000-%012x", nonce, tid, counter)
  local body = table.concat(pieces, key)
  return wrk.format("POST", wrk.path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end

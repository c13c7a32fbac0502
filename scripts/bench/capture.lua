-- wrk script: POST /transactions with a fresh body per request, the callers' bearer tokens in turn.
--   wrk -t <threads> -s capture.lua URL -- <threads> <terminals> [token ...]
-- Bodies follow bench.users.capture_factory (same amounts and terminals for the same request number).
-- done() prints one line "WRK_RESULT {json}" that bench/wrk.py parses: statuses counted per thread,
-- wrk's latency percentiles in microseconds and its socket error counts.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  stride = tonumber(args[1]) or 1
  terminals = tonumber(args[2]) or 200
  tokens = {}
  for i = 3, #args do tokens[#tokens + 1] = args[i] end
  counter = id
  statuses = {}
end

function request()
  local i = counter
  -- Threads interleave request numbers (0, n, 2n ... on thread 0) so no two share one.
  counter = counter + stride
  local body = string.format('{"amount": "%.2f", "currency": "EUR", "terminal_id": "T-%05d"}',
                             10 + ((i * 7919) % 9000) / 100, i % terminals)
  local headers = { ["Content-Type"] = "application/json" }
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]
  end
  return wrk.format("POST", "/transactions", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  local e = summary.errors
  print(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}}',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

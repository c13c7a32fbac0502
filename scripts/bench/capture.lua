-- wrk script: POST /transactions with a fresh body per request, the callers' bearer tokens in turn.
--   wrk -t <threads> -s capture.lua URL -- <threads> <terminals> <interval_us> <latency_file> [token ...]
-- Bodies follow bench.users.capture_factory (same amounts and terminals for the same request number).
-- done() prints one line "WRK_RESULT {json}" that bench/wrk.py parses: statuses counted per thread,
-- wrk's latency percentiles in microseconds and its socket error counts.
--
-- interval_us 0: closed loop, every connection sends as soon as it has its answer (the maximum rate).
-- interval_us > 0: open loop, paced. Run it with one connection per thread (-c = -t): wrk's delay(),
-- request() and response() hooks do not say which connection they are for, so only then does the
-- thread's state belong to one connection. That connection sends request k at start + k * interval_us
-- (threads staggered across one interval). Each latency is measured here, not by wrk, and counts from
-- the scheduled send when the connection was still busy with an earlier answer at that moment (the
-- server made the request wait: no coordinated omission), from the actual send otherwise (the
-- millisecond timer of wrk's delay() is the client's lateness, not the server's). That lateness is
-- reported as send lag. Each answer's status and latency (us) go to latency_file, one a line.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1e6 + tonumber(timespec.tv_nsec) / 1e3
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local function paced_delay()
  local now = now_us()
  if first_slot == nil then
    first_slot = now + interval * id / stride  -- threads spread over one interval, not all at once
    next_slot = first_slot
  end
  local wait = next_slot - now
  if wait <= 0 then return 0 end
  return math.floor(wait / 1000 + 0.5)
end

function init(args)
  stride = tonumber(args[1]) or 1
  terminals = tonumber(args[2]) or 200
  interval = tonumber(args[3]) or 0
  latency_file = args[4] or "-"
  tokens = {}
  for i = 5, #args do tokens[#tokens + 1] = args[i] end
  counter = id
  statuses = {}
  answered, latencies, lags = {}, {}, {}
  sent, ready, origin = 0, 0, 0
  -- wrk calls delay() only if the script defines it once init has run (on the first thread).
  if interval > 0 then delay = paced_delay end
end

function request()
  local i = counter
  -- Threads interleave request numbers (0, n, 2n ... on thread 0) so no two share one.
  counter = counter + stride
  if interval > 0 then
    local now = now_us()
    local slot = next_slot or now
    next_slot = slot + interval
    sent = sent + 1
    if ready > slot then
      origin = slot  -- the connection was busy when this request was due
    else
      origin = now
      lags[#lags + 1] = math.max(0, now - slot)
    end
  end
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
  if interval > 0 then
    ready = now_us()
    answered[#answered + 1] = status
    latencies[#latencies + 1] = ready - origin
  end
end

local function percentile(sorted, q)
  if #sorted == 0 then return 0 end
  return sorted[math.max(1, math.ceil(#sorted * q / 100))]
end

function done(summary, latency, requests)
  -- done() runs in wrk's main Lua state, where init() never ran: the arguments come from a thread.
  local latency_file, interval = threads[1]:get("latency_file"), threads[1]:get("interval")
  local counts = {}
  local out = nil
  if latency_file ~= "-" then out = assert(io.open(latency_file, "w")) end
  local all_lags, sends, due = {}, 0, 0
  local now = now_us()
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    if out then
      local thread_statuses = thread:get("answered")
      for i, micros in ipairs(thread:get("latencies")) do
        out:write(string.format("%d %d\n", thread_statuses[i], micros))
      end
      for _, lag in ipairs(thread:get("lags")) do all_lags[#all_lags + 1] = lag end
      sends = sends + thread:get("sent")
      local first = thread:get("first_slot")
      if first then due = due + math.max(0, math.floor((now - first) / interval) + 1) end
    end
  end
  if out then out:close() end
  table.sort(all_lags)
  local parts = {}
  for status, n in pairs(counts) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  local e = summary.errors
  print(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "statuses": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}, ' ..
    '"paced": {"sent": %d, "due": %d, "lag_us": {"p50": %d, "p99": %d, "max": %d}}}',
    summary.requests, summary.duration, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    sends, due, percentile(all_lags, 50), percentile(all_lags, 99), all_lags[#all_lags] or 0))
end

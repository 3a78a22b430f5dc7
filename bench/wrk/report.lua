-- Shared by every scenario script: load the run's parameters and print wrk's figures as one
-- JSON line ("WRK_JSON {...}") that bench/suite.py reads. Loaded with dofile() from the
-- scenario scripts, which find this file next to themselves.
--
-- Parameters: wrk passes what follows "--" on its command line to init(args); args[1] is a
-- Lua file that bench/suite.py generated for the run (tokens, paths, request bodies). It
-- sets the global table `params`.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function load_params(args)
  assert(args[1], "usage: wrk ... -s scenario.lua URL -- PARAMS.lua")
  dofile(args[1])
  assert(type(params) == "table", args[1] .. " must set the table `params`")
end

-- Scripts that want status codes counted define response() with count_status(status).
statuses = {}
function count_status(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("statuses") or {}
    for status, n in pairs(seen) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    table.concat(parts, ", ")))
end

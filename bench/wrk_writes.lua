-- wrk script of bench/writes.py: POST GraphQL request bodies round-robin, count failed answers.
-- BENCH_BODIES_FILE: one JSON body per line; BENCH_AUTHORIZATION: the Authorization header.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES_FILE")) do
  if line ~= "" then
    table.insert(bodies, line)
  end
end
local authorization = os.getenv("BENCH_AUTHORIZATION")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = id or 0
end

function request()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json"}
  if authorization and authorization ~= "" then
    headers["Authorization"] = authorization
  end
  return wrk.format("POST", nil, headers, bodies[(counter % #bodies) + 1])
end

failed = 0

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true)
      or not string.find(body, '"userErrors":[]', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("failed")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "failed": %d, '
      .. '"socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    errors.connect + errors.read + errors.write + errors.timeout
  ))
end

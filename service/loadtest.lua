-- wrk script of service.loadtest: each request POSTs one sentence to /classify, cycling
-- through the JSON bodies (one per line) of the file named by STANCEFRAME_LOADTEST_BODIES,
-- and the run ends with one JSON line of counts and latency percentiles.
local bodies = {}
for line in io.lines(os.getenv("STANCEFRAME_LOADTEST_BODIES")) do
  bodies[#bodies + 1] = line
end
local sent = 0
local headers = {["Content-Type"] = "application/json"}

request = function()
  sent = sent + 1
  return wrk.format("POST", "/classify", headers, bodies[(sent % #bodies) + 1])
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'LOADTEST {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors.status, errors.connect + errors.read + errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end

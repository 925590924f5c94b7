-- wrk script: POST one fixed body with fixed headers, then print the figures as one JSON line.
-- Usage: wrk -s post.lua URL -- BODY_FILE ["Name: value" ...]

function init(args)
   local file = assert(io.open(args[1], "rb"))
   wrk.body = file:read("*a")
   file:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   for i = 2, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
   end
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"status_errors\": %d, " ..
      "\"socket_errors\": %d, \"p50_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
      summary.requests, summary.duration, errors.status,
      errors.connect + errors.read + errors.write + errors.timeout,
      latency:percentile(50), latency:percentile(99), latency.max))
end

-- wrk script for bench/load.sh: POSTs a mix of executions (python, bash, a non-zero exit, a timeout) as different users,
-- and counts answers by status. Anything other than 200, 429 or 503 is a failure; so is a socket error (reported by wrk).
local threads = {}
local bodies = {
  '{"language":"python","code":"print(6*7)"}',
  '{"language":"bash","code":"echo hello"}',
  '{"language":"bash","code":"echo x; exit 3"}',
  '{"language":"bash","code":"sleep 5","timeout":0.5}',
}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counts = { [200] = 0, [429] = 0, [503] = 0, other = 0 }
  n = 0
end

function request()
  n = n + 1
  local body = bodies[(n % #bodies) + 1]
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("WARDEN_API_KEY"),
    ["X-User-Id"] = "user" .. (id % 8),
  }
  return wrk.format("POST", "/api/v1/execute", headers, body)
end

function response(status, headers, body)
  if counts[status] ~= nil then counts[status] = counts[status] + 1 else counts.other = counts.other + 1 end
end

function done(summary, latency, requests)
  local total = { [200] = 0, [429] = 0, [503] = 0, other = 0 }
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = total[k] + v end
  end
  io.write(string.format("answers: 200=%d 429=%d 503=%d other=%d socket_errors=%d timeouts=%d\n",
    total[200], total[429], total[503], total.other,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout))
  io.write(string.format("latency: p50=%.0fms p95=%.0fms p99=%.0fms\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end

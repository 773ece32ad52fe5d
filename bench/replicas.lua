-- wrk script for bench/replicas.sh: stateless executions (python and bash, alternating) as many users, counting answers
-- by status and by the replica that served them (X-Warden-Replica). Anything but 200 is reported.
local threads = {}
local bodies = {
  '{"language":"python","code":"print(6*7)"}',
  '{"language":"bash","code":"echo 42"}',
}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, other, n = 0, 0, 0
  replicas = {}
end

function request()
  n = n + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("WARDEN_API_KEY"),
    ["X-User-Id"] = "bench-" .. id .. "-" .. (n % 16),
  }
  return wrk.format("POST", "/api/v1/execute", headers, bodies[(n % #bodies) + 1])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
  local replica = headers["X-Warden-Replica"] or headers["x-warden-replica"] or "?"
  replicas[replica] = (replicas[replica] or 0) + 1
end

function done(summary, latency, requests)
  local total_ok, total_other, by = 0, 0, {}
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_other = total_other + t:get("other")
    for k, v in pairs(t:get("replicas")) do by[k] = (by[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(by) do table.insert(parts, k .. "=" .. v) end
  table.sort(parts)
  io.write(string.format("result: ok=%d other=%d errors=%d seconds=%.1f p50=%.1f p95=%.1f p99=%.1f by=%s\n",
    total_ok, total_other, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ",")))
end

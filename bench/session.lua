-- wrk script for bench/replicas.sh: one cell after another in one session (x + 1 → 42), to compare a session served by
-- its owner with the same session reached through another replica (forwarded). SESSION names the session.
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args) ok, other = 0, 0 end

function request()
  return wrk.format("POST", "/api/v1/sessions/" .. os.getenv("SESSION") .. "/execute",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("WARDEN_API_KEY") }, '{"code":"x + 1"}')
end

function response(status, headers, body)
  if status == 200 and body:find('"result":"42"', 1, true) then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local t_ok, t_other = 0, 0
  for _, t in ipairs(threads) do t_ok = t_ok + t:get("ok"); t_other = t_other + t:get("other") end
  io.write(string.format("result: ok=%d other=%d seconds=%.1f p50=%.2f p95=%.2f p99=%.2f\n", t_ok, t_other,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end

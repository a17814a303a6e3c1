-- bench/wrk-report.lua - prints wrk's summary as one machine-readable line:
--   JG_WRK requests duration_us p50_us p99_us errors
-- errors = connect + read + write + timeout + replies outside 2xx/3xx.
-- Only done() is defined, so wrk keeps its fast path for requests.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("JG_WRK %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout + e.status))
end

-- bench/wrk-ingest.lua - POSTs the OTLP/HTTP JSON batch in $BENCH_BODY (written by
-- `telemetry_bench body`) with a fresh trace id prefix per request: every
-- "@@@@@@@@@@@@@@@@" in the body becomes 16 hex digits (8 random per wrk thread
-- and run, 8 counting requests), so spans, unique by trace and span id, are
-- really stored each time and not skipped as a resent batch.  The summary line
-- is wrk-report.lua's.  The Authorization header comes from wrk -H.
dofile(os.getenv("REPO") .. "/bench/wrk-report.lua")

local placeholder = "@@@@@@@@@@@@@@@@"
local parts, nonce, count = {}, 0, 0

init = function(args)
  local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
  local body = f:read("*a")
  f:close()
  local pos = 1
  while true do
    local s, e = string.find(body, placeholder, pos, true)
    if not s then break end
    parts[#parts + 1] = string.sub(body, pos, s - 1)
    pos = e + 1
  end
  parts[#parts + 1] = string.sub(body, pos)
  local r = assert(io.open("/dev/urandom", "rb"))
  local b = r:read(4)
  r:close()
  nonce = b:byte(1) * 16777216 + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

request = function()
  count = count + 1
  return wrk.format(nil, nil, nil, table.concat(parts, string.format("%08x%08x", nonce, count)))
end

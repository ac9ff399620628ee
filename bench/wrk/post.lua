-- POST a JSON body with a bearer key; prints one JSON summary line for bench/run.py.
-- usage: wrk ... -s post.lua <url> -- <body-file> <key> [tag]
-- Every "@@N@@" in the body becomes "<tag>-<n>" with n counting requests, so each request carries a
-- text the gateway has not seen (no scan-cache hits); without a tag the body is sent as it is.
local head, tail, tag
local n = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["anthropic-version"] = "2023-06-01"
  tag = args[3]
  local s, e = body:find("@@N@@", 1, true)
  if tag and s then
    head, tail = body:sub(1, s - 1), body:sub(e + 1)
  else
    wrk.body = body
  end
end

function request()
  if head then
    n = n + 1
    return wrk.format(nil, nil, nil, head .. tag .. "-" .. n .. tail)
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end

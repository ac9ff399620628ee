-- POST a JSON body with a bearer key; prints one JSON summary line for bench/run.py.
-- usage: wrk ... -s post.lua <url> -- <body-file> <key> [tag [keys-file]]
-- Every "@@N@@" in the body becomes "<tag>-<n>" with n counting requests, so each request carries a
-- text the gateway has not seen (no scan-cache hits); without a tag the body is sent as it is.
-- With a keys file (one key a line), each request carries a key picked at random from it.
local head, tail, tag
local n = 0
local keys, nkeys = nil, 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["anthropic-version"] = "2023-06-01"
  tag = args[3]
  if args[4] then
    keys = {}
    for line in io.lines(args[4]) do
      if #line > 0 then
        nkeys = nkeys + 1
        keys[nkeys] = "Bearer " .. line
      end
    end
    assert(nkeys > 0, "empty keys file")
    math.randomseed(os.time())
  end
  local s, e = body:find("@@N@@", 1, true)
  if tag and s then
    head, tail = body:sub(1, s - 1), body:sub(e + 1)
  else
    wrk.body = body
  end
end

function request()
  if keys then
    n = n + 1
    local h = {["Content-Type"] = "application/json", ["anthropic-version"] = "2023-06-01",
               ["Authorization"] = keys[math.random(nkeys)]}
    return wrk.format(nil, nil, h, head and (head .. tag .. "-" .. n .. tail) or nil)
  end
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

-- wrk script for yolo4 serve's load test (run_load_test.py): POST /detect with dog.jpg, and in
-- "mixed" mode every 10th request malformed, in turn a truncated JPEG, random bytes, a body over
-- --max-body and a wrong Content-Type. Each answer is checked: a 200 must carry exactly the
-- expected detections, a malformed request 400, 413 or 415; anything else counts as unexpected.
-- Arguments after "--": dog.jpg, the file with the expected "detections" JSON, mixed|clean.

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local image = read(args[1])
  expected = read(args[2])
  mixed = args[3] == "mixed"
  local random = {}
  math.randomseed(7)
  for i = 1, 4096 do random[i] = string.char(math.random(0, 255)) end
  good = wrk.format("POST", nil, { ["Content-Type"] = "image/jpeg" }, image)
  bad = {
    wrk.format("POST", nil, { ["Content-Type"] = "image/jpeg" }, image:sub(1, math.floor(#image / 2))),
    wrk.format("POST", nil, { ["Content-Type"] = "application/octet-stream" },
               table.concat(random)),
    wrk.format("POST", nil, { ["Content-Type"] = "image/jpeg" },
               string.rep("\255", 1024 * 1024 + 4096)),
    wrk.format("POST", nil, { ["Content-Type"] = "text/plain" }, image),
  }
  sent, sent_good, sent_bad = 0, 0, 0
  ok, wrong, rejected, unexpected = 0, 0, 0, 0
end

function request()
  sent = sent + 1
  if mixed and sent % 10 == 0 then
    sent_bad = sent_bad + 1
    return bad[math.floor(sent / 10) % #bad + 1]
  end
  sent_good = sent_good + 1
  return good
end

function response(status, headers, body)
  if status == 200 then
    if body:match('"detections":(%b[])') == expected then ok = ok + 1 else wrong = wrong + 1 end
  elseif status == 400 or status == 413 or status == 415 then
    rejected = rejected + 1
  else
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local totals = { sent_good = 0, sent_bad = 0, ok = 0, wrong = 0, rejected = 0, unexpected = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do totals[key] = totals[key] + thread:get(key) end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f sent_good=%d sent_bad=%d ok=%d wrong=%d rejected=%d " ..
    "unexpected=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
    "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, totals.sent_good, totals.sent_bad, totals.ok,
    totals.wrong, totals.rejected, totals.unexpected, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000))
end

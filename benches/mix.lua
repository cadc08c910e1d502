-- wrk script: cycles through a request mix (one path per line of the file
-- given after `--`) and prints the summary as one JSON line.
local paths = {}
local counter = 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  -- Each thread starts at a different point of the mix.
  counter = math.random(#paths)
end

-- A new connection per request: thumbor's processes share one listening
-- socket, and kept-alive connections stay with whichever process accepted
-- them, so at low concurrency one process (one CPU) often did all the work
-- and its throughput halved from run to run. Closed connections spread over
-- the processes as each becomes free. Ours and ipx are one process each.
function request()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter], { ["Connection"] = "close" })
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  -- Only answered images count: a 503 or a broken connection is not throughput.
  local ok = math.max(0, summary.requests - e.status - e.read - e.write - e.timeout)
  io.write(string.format(
    '{"requests":%d,"secs":%.3f,"rps":%.3f,"p50_ms":%.2f,"p99_ms":%.2f,"mean_ms":%.2f,'
      .. '"errors":%d,"non2xx":%d}\n',
    summary.requests, secs, ok / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end

-- wrk script for benches/load.sh: a mixed request set (small and large
-- photos, several formats, cache-busting width variants, a few requests
-- that are meant to be 4xx), and a count of answers by status.
local paths = {}
local function add(weight, path)
  for _ = 1, weight do paths[#paths + 1] = path end
end

math.randomseed(os.time())
local formats = { "jpeg", "webp", "avif", "png" }
local small = { "dune.jpg", "flower.jpg", "ladybird.jpg", "orientation.jpg", "alpha.png" }
-- cache-busting variants: 60 widths per photo and format
for _, key in ipairs(small) do
  for _, f in ipairs(formats) do
    for w = 0, 59 do
      add(1, string.format("/%s?width=%d&format=%s", key, 100 + w * 10, f))
    end
  end
end
-- the large photo (4000 px): shrink-on-load JPEG and WebP
for w = 0, 29 do
  add(2, string.format("/large.jpg?width=%d&format=jpeg", 300 + w * 20))
  add(1, string.format("/large.jpg?width=%d&format=webp", 300 + w * 20))
end
-- negotiation by Accept (no format parameter)
for w = 0, 19 do add(2, string.format("/dune.jpg?width=%d", 200 + w)) end
-- intended 4xx: a missing key, a bad parameter, an unknown edit value
for _ = 1, 20 do
  add(1, "/missing.jpg?width=100")
  add(1, "/dune.jpg?width=-5")
  add(1, "/dune.jpg?fit=sideways")
end

counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function request()
  local path = paths[math.random(#paths)]
  return wrk.format("GET", path, { ["Accept"] = "image/avif,image/webp,*/*" })
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for status, n in pairs(c) do total[status] = (total[status] or 0) + n end
  end
  io.write("STATUS")
  local keys = {}
  for status in pairs(total) do keys[#keys + 1] = status end
  table.sort(keys)
  for _, status in ipairs(keys) do io.write(string.format(" %d=%d", status, total[status])) end
  io.write("\n")
  io.write(string.format("LATENCY p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("REQUESTS total=%d rps=%.1f socket_errors=%d timeouts=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout))
end

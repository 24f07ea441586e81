-- wrk script for benchmarks/boot_storm.py: one request per device, each with its own User-Agent.
-- The request list (path TAB user agent, one a line) comes from the env var BOOT_STORM_REQUESTS.
-- Every thread starts at its own offset; BOOT_STORM_ONCE=1 stops a thread after its share (the cold
-- pass: each device's first fetch). done() prints one JSON line for the Python side to read.
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local requests = {}
local index, first, last, answered = 1, 1, 0, 0
local once = os.getenv("BOOT_STORM_ONCE") == "1"

function init(args)
   for line in io.lines(os.getenv("BOOT_STORM_REQUESTS")) do
      local path, ua = line:match("^([^\t]*)\t(.*)$")
      -- Formatted here, in init(): wrk.headers already holds the Host header of the URL.
      requests[#requests + 1] = wrk.format("GET", path, {["User-Agent"] = ua, ["Host"] = wrk.headers["Host"]})
   end
   local n, count = #requests, tonumber(args[1])  -- the thread count, after wrk's "--"
   local share = math.floor(n / count)
   first = id * share + 1
   last = (id == count - 1) and n or (first + share - 1)
   index = first
end

function request()
   local r = requests[index]
   index = index + 1
   if once then
      if index > last then index = first end
   elseif index > #requests then
      index = 1
   end
   return r
end

if once then
   function response(status, headers, body)
      answered = answered + 1
      if answered >= (last - first + 1) then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local non2xx = summary.errors.status
   io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
      '"socket_errors": %d, "bytes": %d}\n', summary.requests, summary.duration, latency:percentile(50),
      latency:percentile(99), non2xx, summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout, summary.bytes))
end

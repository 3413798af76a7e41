-- wrk script for the benchmark: every request gets a unique path /PREFIX/<thread>/<n>, so the
-- access logs of the production server and of the target compare as sets (joined by URI).
-- Usage: wrk ... -s bench/uris.lua URL -- PREFIX [close]
--   PREFIX  first path component (default "r"), e.g. "c" for the ceiling run
--   close   send "Connection: close": one request per connection (short connections)
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

function init(args)
    n = 0
    prefix = args[1] or "r"
    headers = {}
    if args[2] == "close" then
        headers["Connection"] = "close"
    end
end

function request()
    n = n + 1
    return wrk.format("GET", "/" .. prefix .. "/" .. tid .. "/" .. n, headers)
end

-- wrk script for `python -m simulator.bench --tool wrk`: every request a new
-- top-up with a unique reference (RUN_ID-thread-sequence), so each one is recorded.
--
--   wrk -c 64 -d 10s -s simulator/topup.lua http://127.0.0.1:8299 -- RUN_ID

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
   table.insert(threads, thread)
end

function init(args)
   run_id = args[1] or "wrk"
   sequence = 0
   wrk.method = "POST"
   wrk.path = "/v1/topups"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   sequence = sequence + 1
   local body = string.format(
      '{"reference":"%s-%d-%d","msisdn":"+98912%07d","amount":10000,"operator":"mci"}',
      run_id, thread_id, sequence, sequence % 10000000)
   return wrk.format(nil, nil, nil, body)
end

-- wrk script for loadtests/bench.py: POSTs recharges as random sellers.
--
--   wrk -c 32 -d 10s --latency -s loadtests/wrk/recharge.lua http://127.0.0.1:18250 \
--       -- SEED_FILE SELLERS PATH ITEMS RUN_ID [DELAY_MS]
--
-- SEED_FILE  the JSON written by `manage.py seed_loadtest` (seller tokens are read from it)
-- SELLERS    use the first SELLERS sellers of the file (1000: spread; 2: hot sellers)
-- PATH       /api/v1/recharges/, /api/v1/recharge-batches/ or /bench/echo/
-- ITEMS      0: one recharge per request; N: a batch of N items
-- RUN_ID     makes every Idempotency-Key unique across runs (RUN_ID-thread-sequence)
-- DELAY_MS   pause of each connection between requests (a steady offered load), default 0
--
-- Each request: a random seller's token, a unique Idempotency-Key, random
-- valid Iranian mobile numbers and round amounts (10,000 to 500,000 rials).
-- done() prints one line "STATUS 2xx=.. 402=.. 4xx=.. 5xx=.." for bench.py.

local threads = {}
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
   table.insert(threads, thread)
end

local prefixes = { "912", "919", "910", "913", "990", "991", "935", "936", "939", "901", "903", "921" }
local amounts = { 10000, 20000, 30000, 50000, 100000, 150000, 200000, 300000, 500000 }

function init(args)
   local seed_file, sellers = args[1], tonumber(args[2])
   path, items, run_id = args[3], tonumber(args[4]), args[5]
   delay_ms = tonumber(args[6] or "0")
   local file = assert(io.open(seed_file, "r"), "cannot read " .. seed_file)
   local text = file:read("*a")
   file:close()
   tokens = {}
   -- Seller entries are {"seller_id": .., "token": ".."}; the staff's key is "staff_token".
   for token in string.gmatch(text, '"token"%s*:%s*"(%w+)"') do
      if #tokens < sellers then
         tokens[#tokens + 1] = token
      end
   end
   assert(#tokens == sellers, "the seed file has fewer than " .. sellers .. " sellers")
   math.randomseed(os.time() + thread_id * 7919)
   sequence = 0
   count_2xx, count_402, count_4xx, count_5xx = 0, 0, 0, 0
end

local function phone()
   local subscriber = math.random(0, 9999999)
   if subscriber % 10000 >= 9990 and subscriber % 10000 <= 9994 then
      subscriber = subscriber - 9990  -- the simulator's sandbox endings fail or time out on purpose
   end
   local national = prefixes[math.random(#prefixes)] .. string.format("%07d", subscriber)
   local form = math.random(4)
   if form == 1 then
      return "0" .. national
   elseif form == 2 then
      return "+98" .. national
   elseif form == 3 then
      return "0" .. national:sub(1, 3) .. " " .. national:sub(4, 6) .. " " .. national:sub(7)
   end
   return "0098" .. national
end

local function item()
   return string.format('{"phone_number": "%s", "amount": %d}', phone(), amounts[math.random(#amounts)])
end

function request()
   sequence = sequence + 1
   local body
   if items == 0 then
      body = item()
   else
      local parts = {}
      for i = 1, items do
         parts[i] = item()
      end
      body = '{"items": [' .. table.concat(parts, ", ") .. "]}"
   end
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Token " .. tokens[math.random(#tokens)],
      ["Idempotency-Key"] = run_id .. "-" .. thread_id .. "-" .. sequence,
   }
   return wrk.format("POST", path, headers, body)
end

function delay()
   return delay_ms
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      count_2xx = count_2xx + 1
   elseif status == 402 then
      count_402 = count_402 + 1
   elseif status >= 500 then
      count_5xx = count_5xx + 1
   else
      count_4xx = count_4xx + 1
   end
end

function done(summary, latency, requests)
   local totals = { 0, 0, 0, 0 }
   for _, thread in ipairs(threads) do
      totals[1] = totals[1] + thread:get("count_2xx")
      totals[2] = totals[2] + thread:get("count_402")
      totals[3] = totals[3] + thread:get("count_4xx")
      totals[4] = totals[4] + thread:get("count_5xx")
   end
   io.write(string.format("STATUS 2xx=%d 402=%d 4xx=%d 5xx=%d\n", totals[1], totals[2], totals[3], totals[4]))
end

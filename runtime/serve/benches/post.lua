-- wrk script: POSTs the JSON body in the file named by $WRK_BODY with every request, and reports
-- the answers that were not 2xx/3xx, so a run that only measured errors is visible.
local file = assert(io.open(os.getenv("WRK_BODY"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()

function done(summary, latency, requests)
  io.write(string.format("non-200: %d\n", summary.errors.status))
end

-- With $WRK_DELAY_MS, each connection waits that long between requests: a paced load, so two
-- servers of different speed are measured at about the same request rate (with back-to-back
-- requests, a faster server sends more requests into each scheduling hiccup of a busy machine).
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pause then
  function delay()
    return pause
  end
end

-- GET params.path, with params.headers (a bearer token, If-None-Match). Status codes are
-- counted only when params.count_statuses is set: reading them costs wrk time on every answer.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local req

function init(args)
  load_params(args)
  req = wrk.format("GET", params.path, params.headers or {})
  if params.count_statuses then
    response = function(status, headers, body) count_status(status) end
  end
end

function request()
  return req
end

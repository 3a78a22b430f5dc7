-- POST JSON bodies to params.path, each thread taking its own share of params.bodies in turn
-- (thread 0 takes bodies 1, 1 + n, 1 + 2n, ...), so with distinct bodies no request repeats
-- another's slot; with params.cycle the bodies are used round and round (the contention
-- scenario). Bearer tokens rotate through params.tokens, one per request, so many members
-- (not one) are booking at once. Every status is counted.
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "report.lua")

local next_index, step, sent = 0, 0, 0

function init(args)
  load_params(args)
  step = params.threads
  next_index = id + 1
end

function request()
  local index = next_index
  if index > #params.bodies then
    if params.cycle then
      index = ((index - 1) % #params.bodies) + 1
    else
      -- Out of distinct slots: wrk keeps asking, so repeat the last one (answered 409 and
      -- reported as "exhausted" by the suite: give it more slots or a shorter duration).
      index = #params.bodies
    end
  end
  next_index = next_index + step
  sent = sent + 1
  local token = params.tokens[(sent + id) % #params.tokens + 1]
  return wrk.format("POST", params.path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, params.bodies[index])
end

function response(status, headers, body)
  count_status(status)
end

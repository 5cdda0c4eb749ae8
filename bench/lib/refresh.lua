-- wrk script for bench/signin.sh: the refresh-token grant with rotation.
--
--   wrk -tT -cC -dDs --latency -s bench/lib/refresh.lua https://HOST/TENANT/oauth2/v2.0/token -- CONF
--
-- CONF is a file of key=value lines:
--   basic    the client's HTTP Basic credentials (base64 of urlencoded id:secret)
--   scope    scope parameter sent with every refresh, as MSAL does (empty: none)
--   tokens   file with one refresh token per line, each of an independent family
--   threads  wrk -t (thread k takes lines k, k+T, k+2T, ...)
--   save     optional: file the unused tokens are written to at the end, for the next run
--
-- Every thread keeps its own pool. request() pops a token, response() takes the rotated
-- refresh_token out of the JSON body and pushes it back, so a token is sent exactly once and each
-- family has at most one request in flight: the server never sees a reuse (which would rightly
-- revoke the family). A response that is not 200 loses its family; if a pool runs dry, the
-- request carries a dummy token (counted as starved, and failing as non-2xx). The pool must hold
-- at least as many tokens as the thread has connections.
-- done() prints one line: "refresh-lua: ok=… bad=… unparsed=… starved=… tokens_start=… tokens_left=…".

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local function read_conf(path)
   local conf = {}
   for line in io.lines(path) do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then conf[k] = v end
   end
   return conf
end

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
   -- wrk passes the arguments after "--" as args[1..]; be tolerant of args[0].
   local conf_path = args[1] or args[0]
   local conf = read_conf(conf_path)
   local n = tonumber(conf.threads) or 1
   pool = {}
   local i = 0
   for line in io.lines(conf.tokens) do
      if line ~= "" then
         if i % n == id then pool[#pool + 1] = line end
         i = i + 1
      end
   end
   tokens_start = #pool
   save_path = conf.save or ""
   ok, bad, unparsed, starved = 0, 0, 0, 0
   prefix = "grant_type=refresh_token"
   if conf.scope and conf.scope ~= "" then prefix = prefix .. "&scope=" .. urlencode(conf.scope) end
   prefix = prefix .. "&refresh_token="
   hdrs = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. conf.basic,
   }
end

function request()
   local t = table.remove(pool)
   if t == nil then
      starved = starved + 1
      t = "starved-pool-has-no-token"
   end
   return wrk.format("POST", nil, hdrs, prefix .. urlencode(t))
end

function response(status, headers, body)
   if status == 200 then
      local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if rt then
         pool[#pool + 1] = rt
         ok = ok + 1
      else
         unparsed = unparsed + 1
      end
   else
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local t = { ok = 0, bad = 0, unparsed = 0, starved = 0, tokens_start = 0, tokens_left = 0 }
   local left = {}
   local save = ""
   for _, th in ipairs(threads) do
      for _, k in ipairs({ "ok", "bad", "unparsed", "starved", "tokens_start" }) do
         t[k] = t[k] + (th:get(k) or 0)
      end
      for _, tok in ipairs(th:get("pool") or {}) do left[#left + 1] = tok end
      save = th:get("save_path") or save
   end
   t.tokens_left = #left
   io.write(string.format("refresh-lua: ok=%d bad=%d unparsed=%d starved=%d tokens_start=%d tokens_left=%d\n",
      t.ok, t.bad, t.unparsed, t.starved, t.tokens_start, t.tokens_left))
   if save ~= "" then
      local f = assert(io.open(save, "w"))
      for _, tok in ipairs(left) do f:write(tok, "\n") end
      f:close()
   end
end

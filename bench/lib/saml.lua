-- wrk script for bench/saml.sh: GET requests to a SAML IdP, with SSO session cookies and, for the
-- SP-initiated runs, a new AuthnRequest per request.
--
--   wrk -tT -cC -dDs --latency -s bench/lib/saml.lua https://HOST/PATH -- CONF
--
-- CONF is a file of key=value lines (all optional):
--   cookies  file with one Cookie header value per line (independent SSO sessions); requests take
--            them in turn (thread k starts at line k)
--   paths    file prefix: thread k reads PREFIX.k, one request target (path?query) per line, each
--            sent once; without it every request goes to the URL's path
-- When a thread has used all its paths it sends the URL's path with "?exhausted=1" (counted as
-- starved): the run then no longer measures what it should, and the report says so.
-- done() prints one line: "saml-lua: sent=… starved=… paths=… cookies=…".

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local function read_conf(path)
   local conf = {}
   if not path then return conf end
   for line in io.lines(path) do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then conf[k] = v end
   end
   return conf
end

function init(args)
   local conf = read_conf(args[1] or args[0])
   cookies = {}
   if conf.cookies and conf.cookies ~= "" then
      for line in io.lines(conf.cookies) do
         if line ~= "" then cookies[#cookies + 1] = line end
      end
   end
   paths = nil
   npaths = 0
   if conf.paths and conf.paths ~= "" then
      paths = {}
      for line in io.lines(conf.paths .. "." .. id) do
         if line ~= "" then paths[#paths + 1] = line end
      end
      npaths = #paths
   end
   next_path = 1
   next_cookie = (id % math.max(#cookies, 1)) + 1
   sent, starved = 0, 0
   exhausted = wrk.path .. (wrk.path:find("?", 1, true) and "&" or "?") .. "exhausted=1"
   hdrs = {}
   for k, v in pairs(wrk.headers) do hdrs[k] = v end
end

function request()
   local path = wrk.path
   if paths then
      path = paths[next_path]
      if path then
         paths[next_path] = nil -- each one once; frees the string
         next_path = next_path + 1
      else
         starved = starved + 1
         path = exhausted
      end
   end
   if #cookies > 0 then
      hdrs["Cookie"] = cookies[next_cookie]
      next_cookie = next_cookie % #cookies + 1
   end
   sent = sent + 1
   return wrk.format("GET", path, hdrs)
end

function done(summary, latency, requests)
   local t = { sent = 0, starved = 0, npaths = 0 }
   local nc = 0
   for _, th in ipairs(threads) do
      for _, k in ipairs({ "sent", "starved", "npaths" }) do
         t[k] = t[k] + (th:get(k) or 0)
      end
      nc = #(th:get("cookies") or {})
   end
   io.write(string.format("saml-lua: sent=%d starved=%d paths=%d cookies=%d\n", t.sent, t.starved, t.npaths, nc))
end

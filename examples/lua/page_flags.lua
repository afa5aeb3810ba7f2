-- A page's flags and its experiment variant in one EVAL.
--   EVAL "$(cat page_flags.lua)" 3 flags:a flags:b flags:exp <user>
-- KEYS: the page's flags, the last one the experiment. ARGV[1]: the user.
-- Returns {1/0 per flag..., variant or false}.
local user = ARGV[1]
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HANOI.ENABLED', KEYS[i], user)
end
out[#KEYS + 1] = redis.call('HANOI.VARIANT', KEYS[#KEYS], user)
return out

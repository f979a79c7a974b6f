local t = { dashboard = { listen = "127.0.0.1:0" } }
t.log_level = "warn"
return t

-- stratosphere's default configuration. `stratosphere --config FILE` loads
-- another file of the same shape. Relative paths are relative to the
-- folder of this file. Every key is optional; an unknown key or a value of
-- the wrong type stops the program with an error naming it.

return {
  -- Folder for probe.db (recorded flows), kb.db (knowledge base), the CA
  -- certificate and key (ca/) and the REPL history.
  data_dir = "data",

  -- Lowest level logged to stderr: "error", "warn", "info" or "debug".
  -- -v and -q on the command line move it one step each.
  log_level = "info",

  proxy = {
    -- Address the proxy listens on, "host:port". Listening beyond
    -- 127.0.0.1 requires user and password below.
    listen = "127.0.0.1:8080",

    -- Proxy authentication (Basic); both nil by default, which means none.
    -- user = "researcher",
    -- password = "change me",

    -- Verify upstream TLS certificates against the system CA store. Turn
    -- off only for lab servers with self-signed certificates.
    upstream_verify = true,

    -- Bytes of each request or response body kept for recording (16 MiB).
    -- Longer bodies are still relayed in full but recorded truncated.
    max_body = 16 * 1024 * 1024,
    body_memory = 256 * 1024 * 1024,

    -- Seconds a client may take to send a request's headers.
    header_timeout = 10,

    -- Seconds a keep-alive connection may stay idle before it is closed.
    idle_timeout = 60,

    -- Seconds to wait for an upstream server to connect and respond.
    upstream_timeout = 30,
  },

  dashboard = {
    -- Address of the dashboard served by `stratosphere run`.
    listen = "127.0.0.1:8082",
  },

  capture = {
    -- A response is recorded when its content type contains any of these
    -- substrings (case-insensitive). Everything else is proxied only.
    content_types = { "text", "html", "json", "utf-8" },

    -- Headers whose values never reach disk: recorded as a marker that
    -- keeps cookie names but not their values. An empty list turns this
    -- off.
    redact_headers = { "cookie", "set-cookie", "authorization",
                       "proxy-authorization" },

    -- Insert a small badge linking to the dashboard into HTML pages.
    banner = true,
  },

  store = {
    -- Seconds a recorded flow is kept in probe.db (10 minutes). The
    -- knowledge base keeps what extractors made of it.
    retention = 600,

    -- Bytes of free pages in probe.db above which it is vacuumed (50 MB),
    -- at most once every vacuum_interval seconds (10 minutes).
    vacuum_threshold = 50 * 1000 * 1000,
    vacuum_interval = 600,
  },

  pipeline = {
    -- Seconds between two runs of the extractors over new flows.
    interval = 10,

    -- Folder of extractor files (*.lua). A changed file is reloaded and
    -- re-run over the flows still held.
    extractors = "extractors",

    -- Seconds of Lua time one extractor may spend on one flow before it is
    -- stopped and that flow's writes are rolled back.
    budget = 1,

    -- Bytes of memory the extractors' Lua state may hold (256 MiB).
    memory = 256 * 1024 * 1024,
  },
}

return { capture = { content_types = { "text/html", "application/json" }, redact_headers = {}, banner = false }, store = { retention = 86400, vacuum_threshold = 0, vacuum_interval = 1 } }

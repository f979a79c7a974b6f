return { proxy = { header_timeout = "10" } }

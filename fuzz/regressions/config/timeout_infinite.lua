return { proxy = { header_timeout = 1/0 } }

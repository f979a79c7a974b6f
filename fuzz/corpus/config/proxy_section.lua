return { data_dir = "/var/lib/x", log_level = "debug", proxy = { listen = "0.0.0.0:3128", user = "u", password = "p", upstream_verify = false, max_body = 0, header_timeout = 0.5 } }

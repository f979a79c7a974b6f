return { pipeline = { interval = 2.5, extractors = "../ex", budget = 0.25, memory = 1048576 } }

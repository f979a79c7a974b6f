return { capture = { content_types = { "a", 2 } }, unknown = 1 }

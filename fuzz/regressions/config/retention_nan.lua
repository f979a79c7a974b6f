return { store = { retention = 0/0 } }

return { [1] = true, proxy = 5 }

"""Rating: price lookup and money arithmetic. Pure: no I/O in this package."""

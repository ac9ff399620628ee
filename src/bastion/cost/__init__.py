"""Cost: the packaged price table, calendar periods, budgets (the cost stage) and usage records."""

"""Monthly fees: subscriptions to a tier, one billed period per charge, dunning (issue 19)."""

"""Payment-backed reservations: gateways (Stripe, simulated), checkout, webhooks, refunds."""

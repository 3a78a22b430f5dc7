"""Users, companies, registration and log-in."""

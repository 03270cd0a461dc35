"""The notifier: events from decisions (pure), rendering, the outbox sender."""

"""Outbound webhooks for host systems (issue 15, part 4): subscriptions
(:mod:`.subscriptions`), signatures (:mod:`.signing`) and the engine extension that writes
one delivery per event and subscription in the command's transaction and sends them with
retries (:mod:`.extension`)."""

"""Webhooks: the event vocabulary, the SSRF guard, signing secrets, and the deliverer.

outbox ──► fanout (one delivery row per event and matching endpoint, cursor in the DB)
       ──► deliverer (claims due rows, POSTs through the pinned transport, logs attempts,
           retries on the schedule, disables endpoints that are gone or keep failing)
"""

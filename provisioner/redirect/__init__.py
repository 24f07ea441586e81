"""Vendor redirect services: phones shipped straight to a customer's office find this server.

A phone with factory settings asks its vendor's cloud (Yealink RPS, Snom's redirection service)
where its provisioning server is. The provider's account there is stored here (:mod:`.accounts`);
a device given to a customer is registered there and a device taken back is deregistered, through an
outbox written in the same transaction as the device change (:mod:`.outbox`) and delivered by a
worker (:mod:`.worker`) that speaks each vendor's protocol (:mod:`.yealink`, :mod:`.snom`).

Kept light: its tables and queries are in :mod:`provisioner.db` (:mod:`provisioner.db.redirect`).
"""

"""SIP, as much of it as a provisioning server needs.

- :mod:`.message`: parse and build SIP messages, answer digest challenges.
- :mod:`.notify`: one NOTIFY over UDP, retransmitted per RFC 3261 (timer E), with
  a 401/407 challenge answered once.
- :mod:`.resync`: tell a phone, or many paced, to fetch its files again.
- :mod:`.pnp`: the plug-and-play responder (``SUBSCRIBE`` ``Event: ua-profile``).

Nothing here logs or raises with a password in it.
"""

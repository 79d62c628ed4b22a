"""The mail channel's staff pages, one module per concern.

inbound.py: received mail, dead letters, triage, moving and splitting messages.
outbox.py: outgoing mail and its delivery, notification templates.
mailboxes.py: the mailboxes Atalaya receives at (and their IMAP settings).
"""

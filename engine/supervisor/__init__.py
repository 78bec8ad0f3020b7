"""The process supervisor: one per store, keeps background processes alive.

lock.py (one supervisor per store), spawn.py (detached children, groups, identity),
policy.py (restart decisions), logs.py (copytruncate rotation), services.py (built-ins),
handlers.py (non-process commands), supervisor.py (the loop), client.py (for the
console and CLI). Only client.py is imported by the console; it stays light.
"""

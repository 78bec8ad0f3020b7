"""Store soak: real processes hammer one store; the store must come out whole.

`workdir` makes a throwaway installation (config, tiny model); `fills` runs two sim traders
on one store and SIGKILLs one of them again and again; `mixed` runs the supervisor, a
trader, the daemons, CLI processes and supervisor SIGKILLs at once; `venues` SIGKILLs a
trader on the Coinbase and Alpaca fakes round after round. Each returns the
findings (empty when clean). `cappuccino soak` and the bench figure `store_soak_integrity`
run them; so do the slow tests.
"""

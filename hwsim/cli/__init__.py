"""The ``hwsim`` command line: thin commands over the library API (one module per command group)."""

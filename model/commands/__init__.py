"""One module per CLI command; see :mod:`model.commands.cli`."""

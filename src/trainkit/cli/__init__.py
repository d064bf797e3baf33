"""The command line: the scripts' launcher, the check of a command before a run, --help, resolvers."""

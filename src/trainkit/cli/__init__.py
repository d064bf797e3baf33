"""The command line: the scripts' launcher, the check before a run, --help, resolvers."""

"""`simpulse verify`: does a strategy change what a build means?

`redirect` rewrites a remembered `lean` argument list so that every output lands in a scratch
directory, `compare` tells two runs apart (exit code, messages, output bytes), `run` drives the
baseline A/A check and the strategy runs of one module. The command is
`simpulse.commands.verify`; the evidence it records lives in `simpulse.store.verdicts`.
"""

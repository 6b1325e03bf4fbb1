"""`simpulse doctor`: checks, on the user's own toolchain, every assumption the wrapper makes.

One job per file: `check.py` (the result of one check), `proc.py` (running and timing
processes), `context.py` (the toolchain, the facade and scratch space a run of checks shares),
`toolchain.py`, `invisibility.py`, `options.py`, `cost.py`, `state.py`, `meaning.py` (the
checks), `scratch.py` (the scratch Lake project), `runner.py` (all checks in order) and
`gate.py` (the cheap checks `simpulse build` runs once per toolchain before wrapping).
Nothing here ever writes into the user's `.lake`; see docs/doctor.md.
"""

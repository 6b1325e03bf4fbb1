"""simpulse: learn, per kind of Lean module, the compilation strategy that builds it fastest.

This file must stay import-free: the shim imports ``simpulse`` on every module compilation.
"""

__version__ = "0.1.0"

import Meaning.Linted
import Meaning.GuardMsgs
import Meaning.CoreSimproc

/-!
Root of the `Meaning` library: modules whose *meaning* (messages, outputs, verdict) depends on
options a strategy may set. Not a default target: `lake build Meaning` builds it.
-/

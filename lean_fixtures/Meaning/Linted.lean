/-!
# A linter warning under the baseline

`addTwo` binds `unused` with a term-mode `let` and never uses it, so Lean's unused-variables
linter (on by default) warns at `unused`. The warning is all this module prints:

* with `linter.all=false` (or `linter.unusedVariables=false`) it is gone;
* with `warningAsError=true` it is an error and the module fails;
* `lake build --wfail` fails on it, also when Lake replays it from the trace.
-/

namespace Meaning

def addTwo (n : Nat) : Nat :=
  let unused := 5
  n + 2

theorem addTwo_eq (n : Nat) : addTwo n = n + 2 := rfl

end Meaning

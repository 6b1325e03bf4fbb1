/-!
# A `#guard_msgs` test that expects a linter warning

The doc comment above `#guard_msgs` is the exact message Lean v4.14 (the toolchain of this
package) logs for the unused `let` in `timesThree`. Under the baseline the warning is produced,
matches, and is swallowed: the module prints nothing. With `linter.all=false` the warning is not
produced, the docstring no longer matches, and `#guard_msgs` fails the module with an error.
(Newer Lean words the note as `Note: This linter can be disabled with …`, after a blank line.)
-/

namespace Meaning

/--
warning: unused variable `scratch`
note: this linter can be disabled with `set_option linter.unusedVariables false`
-/
#guard_msgs in
def timesThree (n : Nat) : Nat :=
  let scratch := n + 1
  3 * n

theorem timesThree_zero : timesThree 0 = 0 := rfl

end Meaning

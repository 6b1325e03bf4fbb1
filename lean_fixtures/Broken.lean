import Fixtures.Basic

/-!
# Broken

A genuinely broken module, kept out of the default target: `lake build Broken` fails on the
false closed claim below (`decide` evaluates it to `false`).
-/

namespace Broken

theorem double_two : Fixtures.double 2 = 4 := rfl

theorem two_plus_two_is_five : 2 + 2 = 5 := by decide

end Broken

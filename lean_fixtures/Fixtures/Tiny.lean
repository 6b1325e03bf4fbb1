import Fixtures.Basic

/-! A tiny module: one definition and one lemma. -/

namespace Fixtures

/-- The successor of the double. -/
def oddOf (n : Nat) : Nat := double n + 1

theorem oddOf_mod_two (n : Nat) : oddOf n % 2 = 1 := by
  unfold oddOf double
  omega

end Fixtures

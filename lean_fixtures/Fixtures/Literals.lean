import Fixtures.Basic

/-!
# Fixtures.Literals

Closed literal arithmetic proved by `simp` alone: the built-in simprocs do the work.
-/

namespace Fixtures

example : (10 : Nat) + 5 = 15 := by simp
example : (3 : Nat) * 7 = 21 := by simp
example : (100 : Nat) - 1 = 99 := by simp
example : (12 : Nat) < 13 := by simp
example : double 21 = 42 := by simp [double]
example (n : Nat) : n + 0 * 7 = n := by simp
example (n : Nat) (h : n = 3 + 4) : n = 7 := by simp [h]

theorem literal_fold : (6 : Nat) * 7 + 0 = 42 := by simp

end Fixtures

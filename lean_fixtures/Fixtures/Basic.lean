/-!
# Fixtures.Basic

Small definitions on natural numbers shared by the other fixture modules.
-/

namespace Fixtures

/-- Twice a number. -/
def double (n : Nat) : Nat := n + n

/-- The square of a number. -/
def square (n : Nat) : Nat := n * n

/-- Truncate a number at `100`. -/
def clamp (n : Nat) : Nat := if n > 100 then 100 else n

theorem double_eq_two_mul (n : Nat) : double n = 2 * n := by
  unfold double
  omega

theorem clamp_le (n : Nat) : clamp n ≤ 100 := by
  unfold clamp
  split <;> omega

end Fixtures

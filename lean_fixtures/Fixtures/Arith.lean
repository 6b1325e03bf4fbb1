import Fixtures.Basic

/-!
# Fixtures.Arith

Linear arithmetic closed by `omega`, and small closed claims checked by `decide`.
-/

namespace Fixtures

/-! ## Linear facts about `double` and `clamp` -/

theorem double_add (a b : Nat) : double (a + b) = double a + double b := by
  simp only [double] <;> omega

theorem double_lt_double {a b : Nat} (h : a < b) : double a < double b := by
  unfold double
  omega

theorem double_pos {n : Nat} (h : 0 < n) : 0 < double n := by
  unfold double
  omega

theorem double_inj {a b : Nat} (h : double a = double b) : a = b := by
  unfold double at h
  omega

theorem lt_double {n : Nat} (h : 0 < n) : n < double n := by
  rw [double_eq_two_mul]
  omega

theorem double_even (n : Nat) : double n % 2 = 0 := by
  rw [double_eq_two_mul]
  omega

theorem clamp_of_le {n : Nat} (h : n ≤ 100) : clamp n = n := by
  unfold clamp
  split <;> omega

theorem clamp_of_gt {n : Nat} (h : 100 < n) : clamp n = 100 := by
  unfold clamp
  split <;> omega

/-! ## Plain `omega` goals -/

theorem add_sub_cancel_right' (a b : Nat) : a + b - b = a := by omega

theorem sub_add_of_le' {a b : Nat} (h : b ≤ a) : a - b + b = a := by omega

theorem mod_two_cases (n : Nat) : n % 2 = 0 ∨ n % 2 = 1 := by omega

theorem div_two_le (n : Nat) : n / 2 ≤ n := by omega

theorem three_mul_div (n : Nat) : 3 * n / 3 = n := by omega

theorem bounded_sum {a b : Nat} (ha : a < 10) (hb : b < 10) : a + b < 19 := by omega

theorem two_step {x y z : Nat} (h₁ : x ≤ y) (h₂ : y + 2 ≤ z) : x < z := by omega

theorem sub_sub_le (a b c : Nat) : a - b - c ≤ a := by omega

theorem mod_lt_five (n : Nat) : n % 5 < 5 := by omega

theorem div_mul_le (n : Nat) : n / 4 * 4 ≤ n := by omega

theorem no_nat_between {a : Nat} (h₁ : 3 < a) (h₂ : a < 5) : a = 4 := by omega

/-! ## Small closed claims, evaluated by `decide` -/

theorem fact_add_mul : 2 + 3 * 4 = 14 := by decide
theorem fact_paren : (2 + 3) * 4 = 20 := by decide
theorem fact_div : 17 / 5 = 3 := by decide
theorem fact_mod : 17 % 5 = 2 := by decide
theorem fact_trunc_sub : 3 - 5 = 0 := by decide
theorem fact_div_zero : 7 / 0 = 0 := by decide
theorem fact_ne : 6 * 7 ≠ 41 := by decide
theorem fact_lt : 2 * 8 < 17 := by decide
theorem fact_le : (100 - 1) % 10 ≤ 9 := by decide
theorem fact_nested : ((1 + 2) * (3 + 4) - 5) / 2 = 8 := by decide
theorem fact_big : 123 * 456 = 56088 := by decide

example : 10 - 3 = 7 ∧ 3 - 10 = 0 := by
  decide

example : double 21 = 42 := by
  decide

example : clamp 250 = 100 := by
  decide

end Fixtures

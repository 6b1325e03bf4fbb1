import Fixtures.Arith

/-!
# Fixtures.Cases

Case analysis: `cases`, `rcases`, `match`, `split`, on propositions, naturals and booleans.
-/

namespace Fixtures

theorem or_swap' (p q : Prop) : p ∨ q → q ∨ p := by
  intro h
  rcases h with hp | hq
  · exact Or.inr hp
  · exact Or.inl hq

theorem and_swap' (p q : Prop) : p ∧ q → q ∧ p := by
  intro h
  rcases h with ⟨hp, hq⟩
  exact ⟨hq, hp⟩

theorem exists_double (n : Nat) : ∃ k, double n = 2 * k := ⟨n, double_eq_two_mul n⟩

theorem even_of_exists {n : Nat} (h : ∃ k, n = 2 * k) : n % 2 = 0 := by
  rcases h with ⟨k, rfl⟩
  omega

theorem odd_or_even (n : Nat) : (∃ k, n = 2 * k) ∨ (∃ k, n = 2 * k + 1) := by
  rcases mod_two_cases n with h | h
  · exact Or.inl ⟨n / 2, by omega⟩
  · exact Or.inr ⟨n / 2, by omega⟩

theorem three_way (n : Nat) : n = 0 ∨ n = 1 ∨ 2 ≤ n := by
  rcases n with _ | _ | m
  · exact Or.inl rfl
  · omega
  · omega

theorem le_one_cases {n : Nat} (h : n ≤ 1) : n = 0 ∨ n = 1 := by
  cases n with
  | zero => exact Or.inl rfl
  | succ m =>
    cases m with
    | zero => exact Or.inr rfl
    | succ k => omega

theorem bool_cases (b : Bool) : b = true ∨ b = false := by
  cases b
  · exact Or.inr rfl
  · exact Or.inl rfl

theorem and_or_distrib (p q r : Prop) : p ∧ (q ∨ r) → (p ∧ q) ∨ (p ∧ r) := by
  intro ⟨hp, hqr⟩
  rcases hqr with hq | hr
  · exact Or.inl ⟨hp, hq⟩
  · exact Or.inr ⟨hp, hr⟩

/-- A name for the size of a number. -/
def describe (n : Nat) : String :=
  match n with
  | 0 => "none"
  | 1 => "one"
  | 2 => "two"
  | _ => "many"

theorem describe_big (n : Nat) (h : 3 ≤ n) : describe n = "many" := by
  unfold describe
  split <;> first | rfl | omega

/-- The predecessor, by pattern matching. -/
def pred' : Nat → Nat
  | 0 => 0
  | n + 1 => n

theorem pred'_lt : ∀ n : Nat, n ≠ 0 → pred' n < n
  | 0, h => (h rfl).elim
  | n + 1, _ => Nat.lt_succ_self n

theorem pred'_le (n : Nat) : pred' n ≤ n := by
  cases n with
  | zero => simp [pred']
  | succ m =>
    have h : pred' (m + 1) = m := rfl
    omega

theorem ite_cases (a b : Nat) :
    (if a ≤ b then b else a) = a ∨ (if a ≤ b then b else a) = b := by
  split <;> simp

example (p : Prop) (hp : p) (hn : ¬p) : 0 = 1 := by
  contradiction

example : True := by
  trivial

example : describe 2 = "two" := rfl

end Fixtures

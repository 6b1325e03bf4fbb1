import Fixtures.ListLemmas
import Fixtures.Structures

/-!
# Fixtures.SimpHeavy

A simp-heavy module: list functions with `@[simp]` equations, lemmas proved by `simp`,
`simp only [...]`, `simp_all` and `simp [*]`, and closed literal arithmetic that only the
simprocs evaluate.
-/

namespace Fixtures.SimpHeavy

/-! ## Scaling, shifting and summing lists -/

/-- Multiply every entry by `k`. -/
def scale (k : Nat) : List Nat → List Nat
  | [] => []
  | x :: xs => k * x :: scale k xs

/-- Add `c` to every entry. -/
def shift (c : Nat) : List Nat → List Nat
  | [] => []
  | x :: xs => (x + c) :: shift c xs

/-- Sum of the entries. -/
def total : List Nat → Nat
  | [] => 0
  | x :: xs => x + total xs

/-- `n` copies of `a`. -/
def copies (a : Nat) : Nat → List Nat
  | 0 => []
  | n + 1 => a :: copies a n

@[simp] theorem scale_nil (k : Nat) : scale k [] = [] := rfl
@[simp] theorem scale_cons (k x : Nat) (xs : List Nat) :
    scale k (x :: xs) = k * x :: scale k xs := rfl
@[simp] theorem shift_nil (c : Nat) : shift c [] = [] := rfl
@[simp] theorem shift_cons (c x : Nat) (xs : List Nat) :
    shift c (x :: xs) = (x + c) :: shift c xs := rfl
@[simp] theorem total_nil : total [] = 0 := rfl
@[simp] theorem total_cons (x : Nat) (xs : List Nat) : total (x :: xs) = x + total xs := rfl
@[simp] theorem copies_zero (a : Nat) : copies a 0 = [] := rfl
@[simp] theorem copies_succ (a n : Nat) : copies a (n + 1) = a :: copies a n := rfl

@[simp] theorem length_scale (k : Nat) (xs : List Nat) : (scale k xs).length = xs.length := by
  induction xs <;> simp_all

@[simp] theorem length_shift (c : Nat) (xs : List Nat) : (shift c xs).length = xs.length := by
  induction xs <;> simp_all

@[simp] theorem length_copies (a n : Nat) : (copies a n).length = n := by
  induction n <;> simp_all

@[simp] theorem scale_append (k : Nat) (xs ys : List Nat) :
    scale k (xs ++ ys) = scale k xs ++ scale k ys := by
  induction xs <;> simp_all

@[simp] theorem shift_append (c : Nat) (xs ys : List Nat) :
    shift c (xs ++ ys) = shift c xs ++ shift c ys := by
  induction xs <;> simp_all

@[simp] theorem total_append (xs ys : List Nat) : total (xs ++ ys) = total xs + total ys := by
  induction xs <;> simp_all [Nat.add_assoc]

@[simp] theorem scale_one (xs : List Nat) : scale 1 xs = xs := by
  induction xs <;> simp_all

@[simp] theorem shift_zero (xs : List Nat) : shift 0 xs = xs := by
  induction xs <;> simp_all

theorem scale_scale (a b : Nat) (xs : List Nat) : scale a (scale b xs) = scale (a * b) xs := by
  induction xs <;> simp_all [Nat.mul_assoc]

theorem total_scale (k : Nat) (xs : List Nat) : total (scale k xs) = k * total xs := by
  induction xs <;> simp_all [Nat.mul_add]

theorem total_shift (c : Nat) (xs : List Nat) :
    total (shift c xs) = total xs + c * xs.length := by
  induction xs with
  | nil => simp
  | cons x xs ih =>
    simp only [shift_cons, total_cons, List.length_cons, ih, Nat.mul_add, Nat.mul_one] <;> omega

theorem total_copies (a n : Nat) : total (copies a n) = n * a := by
  induction n with
  | zero => simp
  | succ n ih => simp [ih, Nat.add_mul] <;> omega

theorem scale_copies (k a n : Nat) : scale k (copies a n) = copies (k * a) n := by
  induction n <;> simp_all

theorem total_sumList (xs : List Nat) : total xs = sumList xs := by
  induction xs <;> simp_all [sumList]

theorem scale_rev (k : Nat) (xs : List Nat) : scale k (rev xs) = rev (scale k xs) := by
  induction xs <;> simp_all [rev]

theorem mem_scale {k x : Nat} {xs : List Nat} (h : x ∈ xs) : k * x ∈ scale k xs := by
  induction xs with
  | nil => simp at h
  | cons y ys ih =>
    simp at h
    rcases h with rfl | h
    · simp
    · simp [ih h]

/-! ## Points -/

@[simp] theorem norm_origin : Point.origin.norm = 0 := rfl

theorem norm_scale (k : Nat) (p : Point) : (Point.scale k p).norm = k * p.norm := by
  simp [Point.norm, Nat.mul_add]

theorem swap_add (p q : Point) : (p + q).swap = p.swap + q.swap := by
  apply Point.eq_of_coords <;> simp

theorem swap_origin : Point.origin.swap = Point.origin := by
  apply Point.eq_of_coords <;> simp

theorem scale_swap (k : Nat) (p : Point) : (Point.scale k p).swap = Point.scale k p.swap := by
  apply Point.eq_of_coords <;> simp

theorem norm_add_swap (p q : Point) : (p + q.swap).norm = p.norm + q.norm := by
  simp only [Point.norm, Point.add_x, Point.add_y, Point.swap_x, Point.swap_y] <;> omega

/-! ## Using hypotheses: `simp [*]`, `simp_all`, `simp at` -/

theorem total_of_eq {xs ys : List Nat} (h : xs = ys) : total xs = total ys := by
  simp [*]

theorem chain (a b c : Nat) (h₁ : a = b + 1) (h₂ : b = c * 2) (h₃ : c = 3) : a = 7 := by
  simp [*]

theorem chain_all (p q r : Prop) (hp : p) (hpq : p → q) (hqr : q → r) : r := by
  simp_all

theorem total_of_singleton (x : Nat) (xs : List Nat) (h : xs = [x]) : total xs = x := by
  simp_all

theorem length_scale_of_nil (xs : List Nat) (h : xs = []) : (scale 3 xs).length = 0 := by
  simp [h]

theorem from_hyp (x : Nat) (h : total [x, 1] = 5) : x = 4 := by
  simp at h
  omega

theorem scale_eq_nil {k : Nat} {xs : List Nat} (h : scale k xs = []) : xs = [] := by
  cases xs with
  | nil => rfl
  | cons y ys => simp at h

/-! ## Closed literal arithmetic: the simprocs' work -/

example : (10 : Nat) + 5 = 15 := by simp
example : (3 : Nat) * 7 = 21 := by simp
example : (100 : Nat) - 1 = 99 := by simp
example : (17 : Nat) / 5 = 3 := by simp
example : (17 : Nat) % 5 = 2 := by simp
example : (2 : Nat) ^ 10 = 1024 := by simp
example : (12 : Nat) < 13 := by simp
example : (4 : Nat) ≤ 4 * 4 := by simp
example : total [1, 2, 3, 4] = 10 := by simp
example : scale 2 [1, 2, 3] = [2, 4, 6] := by simp
example : total (scale 3 [1, 2]) = 9 := by simp
example : (shift 1 [0, 0]).length = 2 := by simp
example : total (copies 5 3) = 15 := by simp
example : total [5, 5] = 10 := by simp only [total_cons, total_nil]
example : (Point.scale 3 ⟨1, 2⟩).norm = 9 := by simp [Point.norm]

end Fixtures.SimpHeavy

import Fixtures.ListLemmas

/-!
# Fixtures.ListAdvanced

Lemmas that combine the ones of `Fixtures.ListLemmas` (third level of the import graph).
-/

namespace Fixtures

variable {α β : Type}

theorem sumList_rev (xs : List Nat) : sumList (rev xs) = sumList xs := by
  induction xs with
  | nil => rfl
  | cons x xs ih =>
    simp only [rev, sumList_append, sumList, ih] <;> omega

theorem sumList_doubleAll (xs : List Nat) : sumList (doubleAll xs) = 2 * sumList xs := by
  unfold doubleAll
  induction xs with
  | nil => simp [mapL, sumList]
  | cons x xs ih =>
    simp only [mapL, sumList, double, ih] <;> omega

theorem countP_rev (p : α → Bool) (xs : List α) : countP p (rev xs) = countP p xs := by
  induction xs with
  | nil => rfl
  | cons x xs ih =>
    simp only [rev, countP_append, ih]
    by_cases h : p x <;> simp [countP, h] <;> omega

theorem mapL_rev (f : α → β) (xs : List α) : mapL f (rev xs) = rev (mapL f xs) := by
  induction xs with
  | nil => rfl
  | cons x xs ih => simp [rev, mapL, mapL_append, ih]

theorem keep_keep (p : α → Bool) (xs : List α) : keep p (keep p xs) = keep p xs := by
  induction xs with
  | nil => rfl
  | cons x xs ih => by_cases h : p x <;> simp [keep, h, ih]

theorem countP_eq_length_keep (p : α → Bool) (xs : List α) :
    countP p xs = (keep p xs).length := by
  induction xs with
  | nil => rfl
  | cons x xs ih => by_cases h : p x <;> simp [countP, keep, h, ih]

theorem length_doubleAll (xs : List Nat) : (doubleAll xs).length = xs.length := by
  simp [doubleAll, length_mapL]

theorem rev_doubleAll (xs : List Nat) : rev (doubleAll xs) = doubleAll (rev xs) := by
  simp [doubleAll, mapL_rev]

end Fixtures

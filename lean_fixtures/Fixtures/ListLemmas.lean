import Fixtures.Lists

/-!
# Fixtures.ListLemmas

Lemmas about the functions of `Fixtures.Lists`: length, append, reverse and map, by induction.
-/

namespace Fixtures

variable {α β : Type}

theorem sumList_append (xs ys : List Nat) : sumList (xs ++ ys) = sumList xs + sumList ys := by
  induction xs with
  | nil => simp [sumList]
  | cons x xs ih => simp [sumList, ih, Nat.add_assoc]

theorem rev_append (xs ys : List α) : rev (xs ++ ys) = rev ys ++ rev xs := by
  induction xs with
  | nil => simp [rev]
  | cons x xs ih => simp [rev, ih]

theorem rev_rev (xs : List α) : rev (rev xs) = xs := by
  induction xs with
  | nil => rfl
  | cons x xs ih => simp [rev, rev_append, ih]

theorem length_rev (xs : List α) : (rev xs).length = xs.length := by
  induction xs with
  | nil => rfl
  | cons x xs ih => simp [rev, ih]

theorem rev_eq_reverse (xs : List α) : rev xs = xs.reverse := by
  induction xs <;> simp_all [rev]

theorem mapL_eq_map (f : α → β) (xs : List α) : mapL f xs = xs.map f := by
  induction xs <;> simp_all [mapL]

theorem length_mapL (f : α → β) (xs : List α) : (mapL f xs).length = xs.length := by
  simp [mapL_eq_map]

theorem mapL_append (f : α → β) (xs ys : List α) :
    mapL f (xs ++ ys) = mapL f xs ++ mapL f ys := by
  induction xs <;> simp_all [mapL]

theorem countP_append (p : α → Bool) (xs ys : List α) :
    countP p (xs ++ ys) = countP p xs + countP p ys := by
  induction xs with
  | nil => simp [countP]
  | cons x xs ih => by_cases h : p x <;> simp [countP, h, ih] <;> omega

theorem countP_le_length (p : α → Bool) (xs : List α) : countP p xs ≤ xs.length := by
  induction xs with
  | nil => simp [countP]
  | cons x xs ih => by_cases h : p x <;> simp [countP, h] <;> omega

theorem keep_append (p : α → Bool) (xs ys : List α) :
    keep p (xs ++ ys) = keep p xs ++ keep p ys := by
  induction xs with
  | nil => simp [keep]
  | cons x xs ih => by_cases h : p x <;> simp [keep, h, ih]

theorem length_keep_le (p : α → Bool) (xs : List α) : (keep p xs).length ≤ xs.length := by
  induction xs with
  | nil => simp [keep]
  | cons x xs ih => by_cases h : p x <;> simp [keep, h] <;> omega

theorem length_snoc (xs : List α) (a : α) : (snoc xs a).length = xs.length + 1 := by
  simp [snoc]

theorem rev_snoc (xs : List α) (a : α) : rev (snoc xs a) = a :: rev xs := by
  simp [snoc, rev_append, rev]

end Fixtures

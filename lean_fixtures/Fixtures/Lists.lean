import Fixtures.Basic

/-!
# Fixtures.Lists

Hand-written list functions; their lemmas live in `Fixtures.ListLemmas`.
-/

namespace Fixtures

variable {α β : Type}

/-- Sum of a list of naturals. -/
def sumList : List Nat → Nat
  | [] => 0
  | x :: xs => x + sumList xs

/-- Reverse, the quadratic way. -/
def rev : List α → List α
  | [] => []
  | x :: xs => rev xs ++ [x]

/-- `List.map`, written by hand. -/
def mapL (f : α → β) : List α → List β
  | [] => []
  | x :: xs => f x :: mapL f xs

/-- Count the elements satisfying `p`. -/
def countP (p : α → Bool) : List α → Nat
  | [] => 0
  | x :: xs => if p x then countP p xs + 1 else countP p xs

/-- Keep the elements satisfying `p`. -/
def keep (p : α → Bool) : List α → List α
  | [] => []
  | x :: xs => if p x then x :: keep p xs else keep p xs

/-- Append one element at the end. -/
def snoc (xs : List α) (a : α) : List α := xs ++ [a]

/-- Double every entry. -/
def doubleAll (xs : List Nat) : List Nat := mapL double xs

example : sumList [1, 2, 3] = 6 := rfl
example : rev [1, 2, 3] = [3, 2, 1] := rfl
example : doubleAll [1, 2] = [2, 4] := rfl
example : countP (fun n => n % 2 == 0) [1, 2, 3, 4] = 2 := rfl

end Fixtures

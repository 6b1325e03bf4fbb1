import Fixtures.Basic

/-!
# Fixtures.Trees

Binary trees: structural recursion, `induction ... with`, `cases` and `match`.
-/

namespace Fixtures

/-- Binary trees with values at the nodes. -/
inductive Tree (α : Type) where
  | leaf : Tree α
  | node : Tree α → α → Tree α → Tree α
  deriving Repr

namespace Tree

variable {α : Type}

/-- Number of nodes. -/
def size : Tree α → Nat
  | leaf => 0
  | node l _ r => size l + 1 + size r

/-- Mirror image. -/
def mirror : Tree α → Tree α
  | leaf => leaf
  | node l x r => node (mirror r) x (mirror l)

/-- In-order traversal. -/
def toList : Tree α → List α
  | leaf => []
  | node l x r => toList l ++ x :: toList r

/-- Is the tree a leaf? -/
def isLeaf : Tree α → Bool
  | leaf => true
  | node .. => false

/-- Sum of the values of a tree of naturals. -/
def sum : Tree Nat → Nat
  | leaf => 0
  | node l x r => sum l + x + sum r

theorem mirror_mirror (t : Tree α) : t.mirror.mirror = t := by
  induction t with
  | leaf => rfl
  | node l x r ihl ihr => simp [mirror, ihl, ihr]

theorem size_mirror (t : Tree α) : t.mirror.size = t.size := by
  induction t with
  | leaf => rfl
  | node l x r ihl ihr =>
    simp only [mirror, size, ihl, ihr] <;> omega

theorem length_toList (t : Tree α) : t.toList.length = t.size := by
  induction t with
  | leaf => rfl
  | node l x r ihl ihr => simp [toList, size, ihl, ihr] <;> omega

theorem toList_mirror (t : Tree α) : t.mirror.toList = t.toList.reverse := by
  induction t with
  | leaf => rfl
  | node l x r ihl ihr => simp [mirror, toList, ihl, ihr]

theorem sum_mirror (t : Tree Nat) : t.mirror.sum = t.sum := by
  induction t with
  | leaf => rfl
  | node l x r ihl ihr =>
    simp only [mirror, sum, ihl, ihr] <;> omega

theorem size_of_isLeaf (t : Tree α) (h : t.isLeaf = true) : t.size = 0 := by
  cases t with
  | leaf => rfl
  | node l x r => simp [isLeaf] at h

theorem size_pos_of_not_isLeaf (t : Tree α) (h : t.isLeaf = false) : 0 < t.size := by
  cases t with
  | leaf => simp [isLeaf] at h
  | node l x r =>
    have hs : (node l x r).size = l.size + 1 + r.size := rfl
    omega

theorem eq_leaf_of_size_eq_zero (t : Tree α) : t.size = 0 → t = leaf := by
  match t with
  | leaf => intro _; rfl
  | node l x r =>
    intro h
    have hs : (node l x r).size = l.size + 1 + r.size := rfl
    omega

example : (node leaf 3 (node leaf 4 leaf)).sum = 7 := rfl
example : (node leaf 3 (node leaf 4 leaf)).mirror.toList = [4, 3] := rfl

end Tree

end Fixtures

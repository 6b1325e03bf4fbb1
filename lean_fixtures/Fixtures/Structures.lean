import Fixtures.Basic

/-!
# Fixtures.Structures

A structure with fields, an `Add` instance, `@[simp]` projection lemmas, and a small type class.
-/

namespace Fixtures

/-- A point of the grid `Nat × Nat`. -/
structure Point where
  x : Nat
  y : Nat
  deriving Repr, DecidableEq

namespace Point

/-- The origin. -/
def origin : Point := ⟨0, 0⟩

/-- Coordinate-wise addition. -/
def add (p q : Point) : Point := ⟨p.x + q.x, p.y + q.y⟩

instance : Add Point := ⟨add⟩

/-- Scaling by a natural number. -/
def scale (k : Nat) (p : Point) : Point := ⟨k * p.x, k * p.y⟩

/-- The Manhattan norm. -/
def norm (p : Point) : Nat := p.x + p.y

/-- Swap the coordinates. -/
def swap (p : Point) : Point := ⟨p.y, p.x⟩

@[simp] theorem add_x (p q : Point) : (p + q).x = p.x + q.x := rfl
@[simp] theorem add_y (p q : Point) : (p + q).y = p.y + q.y := rfl
@[simp] theorem origin_x : origin.x = 0 := rfl
@[simp] theorem origin_y : origin.y = 0 := rfl
@[simp] theorem scale_x (k : Nat) (p : Point) : (scale k p).x = k * p.x := rfl
@[simp] theorem scale_y (k : Nat) (p : Point) : (scale k p).y = k * p.y := rfl
@[simp] theorem swap_x (p : Point) : p.swap.x = p.y := rfl
@[simp] theorem swap_y (p : Point) : p.swap.y = p.x := rfl

/-- Two points with the same coordinates are equal. -/
theorem eq_of_coords {p q : Point} (hx : p.x = q.x) (hy : p.y = q.y) : p = q := by
  rcases p with ⟨px, py⟩
  rcases q with ⟨qx, qy⟩
  simp_all

theorem add_comm (p q : Point) : p + q = q + p := by
  apply eq_of_coords <;> simp <;> omega

theorem add_assoc (p q r : Point) : p + q + r = p + (q + r) := by
  apply eq_of_coords <;> simp <;> omega

@[simp] theorem add_origin (p : Point) : p + origin = p := by
  apply eq_of_coords <;> simp

@[simp] theorem origin_add (p : Point) : origin + p = p := by
  apply eq_of_coords <;> simp

@[simp] theorem swap_swap (p : Point) : p.swap.swap = p := by
  apply eq_of_coords <;> simp

theorem scale_add (k : Nat) (p q : Point) : scale k (p + q) = scale k p + scale k q := by
  apply eq_of_coords <;> simp [Nat.mul_add]

theorem norm_add (p q : Point) : (p + q).norm = p.norm + q.norm := by
  simp only [norm, add_x, add_y] <;> omega

theorem norm_swap (p : Point) : p.swap.norm = p.norm := by
  simp only [norm, swap_x, swap_y] <;> omega

end Point

/-- Things with a size. -/
class HasSize (α : Type) where
  size : α → Nat

instance : HasSize Nat := ⟨id⟩

instance : HasSize Point := ⟨Point.norm⟩

instance {α : Type} [HasSize α] : HasSize (List α) :=
  ⟨fun xs => xs.foldl (fun acc a => acc + HasSize.size a) 0⟩

theorem size_point (p : Point) : HasSize.size p = p.x + p.y := rfl

example : HasSize.size (⟨2, 3⟩ : Point) = 5 := rfl
example : HasSize.size [(1 : Nat), 2, 3] = 6 := rfl

end Fixtures

/-!
# Proofs that need core simprocs

`simp` closes these goals only because core simprocs fire: `Nat.reduceLTLE` decides the literal
comparison and `reduceIte` picks the branch of the `if`. With `simprocs=false` every simproc is
off, so `simp` makes no progress and the module fails.
-/

namespace Meaning

theorem pick_then : (if 2 < 3 then 10 else 20) = 10 := by simp

theorem pick_else : (if 5 ≤ 4 then 1 else 7) = 7 := by simp

def firstOrZero (xs : List Nat) : Nat :=
  match xs with
  | [] => 0
  | x :: _ => x

theorem firstOrZero_cons (x : Nat) (xs : List Nat) : firstOrZero (x :: xs) = x := by
  simp [firstOrZero]

end Meaning

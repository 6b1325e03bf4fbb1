import Fixtures.Basic

/-!
# Fixtures.Expr

A small expression language, its evaluator, and a constant folder proved correct.
-/

namespace Fixtures

/-- Arithmetic expressions over numbered variables. -/
inductive Expr where
  | num : Nat → Expr
  | var : Nat → Expr
  | add : Expr → Expr → Expr
  | mul : Expr → Expr → Expr
  deriving Repr

namespace Expr

/-- Evaluate an expression; `env` gives the variables' values. -/
def eval (env : Nat → Nat) : Expr → Nat
  | num n => n
  | var i => env i
  | add a b => eval env a + eval env b
  | mul a b => eval env a * eval env b

@[simp] theorem eval_num (env : Nat → Nat) (n : Nat) : eval env (num n) = n := rfl
@[simp] theorem eval_var (env : Nat → Nat) (i : Nat) : eval env (var i) = env i := rfl
@[simp] theorem eval_add (env : Nat → Nat) (a b : Expr) :
    eval env (add a b) = eval env a + eval env b := rfl
@[simp] theorem eval_mul (env : Nat → Nat) (a b : Expr) :
    eval env (mul a b) = eval env a * eval env b := rfl

/-- Addition that folds two literals. -/
def addOpt : Expr → Expr → Expr
  | num m, num n => num (m + n)
  | a, b => add a b

/-- Multiplication that folds two literals. -/
def mulOpt : Expr → Expr → Expr
  | num m, num n => num (m * n)
  | a, b => mul a b

theorem eval_addOpt (env : Nat → Nat) (a b : Expr) :
    eval env (addOpt a b) = eval env a + eval env b := by
  cases a <;> cases b <;> rfl

theorem eval_mulOpt (env : Nat → Nat) (a b : Expr) :
    eval env (mulOpt a b) = eval env a * eval env b := by
  cases a <;> cases b <;> rfl

/-- Constant folding, bottom-up. -/
def fold : Expr → Expr
  | num n => num n
  | var i => var i
  | add a b => addOpt (fold a) (fold b)
  | mul a b => mulOpt (fold a) (fold b)

/-- Constant folding does not change the value. -/
theorem eval_fold (env : Nat → Nat) (e : Expr) : eval env (fold e) = eval env e := by
  induction e with
  | num n => rfl
  | var i => rfl
  | add a b iha ihb => simp [fold, eval_addOpt, iha, ihb]
  | mul a b iha ihb => simp [fold, eval_mulOpt, iha, ihb]

/-- Number of nodes. -/
def size : Expr → Nat
  | num _ => 1
  | var _ => 1
  | add a b => size a + size b + 1
  | mul a b => size a + size b + 1

theorem size_pos (e : Expr) : 0 < size e := by
  cases e <;> simp [size] <;> omega

example : eval (fun _ => 0) (add (num 2) (mul (num 3) (num 4))) = 14 := rfl
example : fold (add (num 2) (mul (num 3) (num 4))) = num 14 := rfl

end Expr

end Fixtures

import Fixtures.Expr

/-!
# Fixtures.StackMachine

A compiler from `Expr` to a stack machine, proved correct against `Expr.eval`.
-/

namespace Fixtures

/-- Instructions of the stack machine. -/
inductive Instr where
  | push : Nat → Instr
  | load : Nat → Instr
  | add : Instr
  | mul : Instr
  deriving Repr

/-- Apply a binary operation to the two topmost entries of the stack. -/
def binop (f : Nat → Nat → Nat) : List Nat → List Nat
  | b :: a :: s => f a b :: s
  | [a] => [a]
  | [] => []

/-- Run a program on a stack. -/
def exec (env : Nat → Nat) : List Instr → List Nat → List Nat
  | [], s => s
  | Instr.push n :: p, s => exec env p (n :: s)
  | Instr.load i :: p, s => exec env p (env i :: s)
  | Instr.add :: p, s => exec env p (binop (· + ·) s)
  | Instr.mul :: p, s => exec env p (binop (· * ·) s)

/-- Compile an expression to stack code. -/
def compile : Expr → List Instr
  | Expr.num n => [Instr.push n]
  | Expr.var i => [Instr.load i]
  | Expr.add a b => compile a ++ compile b ++ [Instr.add]
  | Expr.mul a b => compile a ++ compile b ++ [Instr.mul]

theorem exec_append (env : Nat → Nat) (p q : List Instr) (s : List Nat) :
    exec env (p ++ q) s = exec env q (exec env p s) := by
  induction p generalizing s with
  | nil => rfl
  | cons i p ih => cases i <;> simp [exec, ih]

/-- Running compiled code pushes the value of the expression. -/
theorem compile_correct (env : Nat → Nat) (e : Expr) (s : List Nat) :
    exec env (compile e) s = e.eval env :: s := by
  induction e generalizing s with
  | num n => rfl
  | var i => rfl
  | add a b iha ihb => simp [compile, exec_append, iha, ihb, exec, binop]
  | mul a b iha ihb => simp [compile, exec_append, iha, ihb, exec, binop]

theorem compile_nonempty (e : Expr) : compile e ≠ [] := by
  intro h
  have hc := compile_correct (fun _ => 0) e []
  simp [h, exec] at hc

example : exec (fun _ => 0) (compile (Expr.add (Expr.num 2) (Expr.num 3))) [] = [5] := rfl

end Fixtures

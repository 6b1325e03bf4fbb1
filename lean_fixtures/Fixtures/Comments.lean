import Fixtures.Basic

/-!
Module documentation that mentions `simp`, `omega`, `decide` and `induction`:
none of them is a tactic call.
-- not a line comment: this is still inside the module doc
-/

namespace Fixtures.Comments

-- simp simp simp omega decide induction cases rcases
/- outer /- nested: simp only [foo] -/ still a comment: omega decide -/
/-- Doc comment: `simp_all` and `simp [*]` are only words here. -/
def banner : String := "simp omega decide -- not a comment /- not a block comment -/"

def quoteChar : Char := '"'
def tickChar : Char := '\''
def newlineChar : Char := '\n'
def backslashChar : Char := '\\'
def escaped : String := "say \"simp\" twice \\"
def multiline : String := "first line
second line, with simp and omega"
def rawPath : String := r"C:\simp\omega"
def rawQuoted : String := r#"a "quoted" simp, omega"#

/-- Identifiers with primes: `f'` and `f''` are names, not character literals. -/
def f' (n : Nat) : Nat := n + 1
def f'' (n : Nat) : Nat := f' (f' n)

def «name with simp inside» : Nat := 3

theorem f''_eq (n : Nat) : f'' n = n + 2 := by
  simp [f'', f'] <;> omega -- the only simp call of this module

theorem primes (a b : Nat) (h : a = b) (h' : b = 3) : a = 3 := by
  rw [h, h']

end Fixtures.Comments

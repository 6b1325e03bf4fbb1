import Fixtures.Basic

/-!
# Fixtures.Defs

Definitions only: an enumeration, a configuration structure, a type class and its instances.
There is almost nothing to prove here.
-/

namespace Fixtures

/-- Colours of a traffic light. -/
inductive Light where
  | red
  | amber
  | green
  deriving Repr, DecidableEq, BEq, Inhabited

namespace Light

/-- The next colour in the cycle. -/
def next : Light → Light
  | red => green
  | green => amber
  | amber => red

/-- A short name. -/
def name : Light → String
  | red => "red"
  | amber => "amber"
  | green => "green"

/-- Seconds the light stays on. -/
def duration : Light → Nat
  | red => 30
  | amber => 4
  | green => 25

instance : ToString Light := ⟨name⟩

end Light

/-- Settings of a build. -/
structure Settings where
  name : String
  jobs : Nat := 4
  verbose : Bool := false
  targets : List String := []
  deriving Repr

/-- Default values for every field but the name. -/
def Settings.ofName (name : String) : Settings := { name := name }

/-- Set the number of jobs, capped at 64. -/
def Settings.withJobs (s : Settings) (n : Nat) : Settings :=
  { s with jobs := if n > 64 then 64 else n }

/-- Add a target. -/
def Settings.addTarget (s : Settings) (t : String) : Settings :=
  { s with targets := s.targets ++ [t] }

/-- A score is a natural number. -/
abbrev Score := Nat

/-- Types whose values can describe themselves. -/
class Describe (α : Type) where
  describe : α → String

instance : Describe Light := ⟨Light.name⟩

instance : Describe Nat := ⟨fun n => toString n⟩

instance : Describe Bool := ⟨fun b => if b then "yes" else "no"⟩

instance {α : Type} [Describe α] : Describe (List α) :=
  ⟨fun xs => ", ".intercalate (xs.map Describe.describe)⟩

instance {α β : Type} [Describe α] [Describe β] : Describe (α × β) :=
  ⟨fun (a, b) => "(" ++ Describe.describe a ++ ", " ++ Describe.describe b ++ ")"⟩

/-- The record of one test run. -/
structure Run where
  light : Light
  score : Score
  passed : Bool
  deriving Repr

/-- One line about a run. -/
def Run.summary (r : Run) : String :=
  s!"{Describe.describe r.light}: {r.score} ({Describe.describe r.passed})"

/-- Advance a light `n` times. -/
def cycle (n : Nat) (l : Light) : Light :=
  match n with
  | 0 => l
  | k + 1 => cycle k l.next

/-- Total time of a sequence of lights. -/
def totalDuration : List Light → Nat
  | [] => 0
  | l :: ls => l.duration + totalDuration ls

/-- Runs that passed. -/
def passedRuns (rs : List Run) : List Run := rs.filter (·.passed)

/-- Best score, `0` for no runs. -/
def bestScore (rs : List Run) : Score := rs.foldl (fun m r => if r.score > m then r.score else m) 0

def sampleRuns : List Run :=
  [{ light := .red, score := 3, passed := true },
   { light := .green, score := 7, passed := false }]

theorem next_next_next (l : Light) : l.next.next.next = l := by
  cases l <;> rfl

end Fixtures

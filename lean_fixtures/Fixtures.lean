import Fixtures.Basic
import Fixtures.Tiny
import Fixtures.Literals
import Fixtures.Arith
import Fixtures.Lists
import Fixtures.ListLemmas
import Fixtures.ListAdvanced
import Fixtures.Structures
import Fixtures.SimpHeavy
import Fixtures.Expr
import Fixtures.StackMachine
import Fixtures.Trees
import Fixtures.Cases
import Fixtures.Defs
import Fixtures.Comments

/-! Root of the `Fixtures` library: it imports every fixture module. -/

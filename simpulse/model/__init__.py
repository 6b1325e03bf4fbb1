"""The learner's model: statistics folded from events, levels, contributions, imports (docs/learning.md)."""

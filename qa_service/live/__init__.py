"""Live QA: conversations checked turn by turn while they happen, alerts delivered to supervisors."""

"""How far machine verdicts agree with human QA labels: the label format, the items, the figures."""

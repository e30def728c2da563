"""Shipped training configs (YAML): the paper's two stages, the SRResNet variant and small CPU demos."""

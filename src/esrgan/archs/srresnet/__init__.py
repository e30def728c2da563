"""SRResNet without batch norm: the module (`model.py`) and its record (`record.py`)."""

"""SRResNet, with or without batch norm: the module (`model.py`) and its record (`record.py`)."""

"""SRVGGNetCompact, Real-ESRGAN's compact network: the module (`model.py`) and its record (`record.py`)."""

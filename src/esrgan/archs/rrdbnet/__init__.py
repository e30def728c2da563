"""RRDBNet, the ESRGAN generator: the module (`model.py`), its record (`record.py`), its inference rewrite."""

"""Validation for methodologists: ``svi validate`` (see ``runner.py``)."""

"""Operator reports: exports, period reports with charts, the doctor."""

"""Policy networks and model directories (weights + exact spec), shared by training and trading."""

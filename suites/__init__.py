"""Suite files (``*.toml``) and the asv benchmarks that measure them (``benchmarks.py``).

asv imports every module of this package, so modules here must be cheap and
side-effect free to import; runnable scripts guard their work with
``if __name__ == "__main__"``.
"""

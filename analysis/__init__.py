"""SVI analysis package: data assembly, pipeline, summaries and the command line."""

from models._env import configure_pytensor_blas

configure_pytensor_blas()

__all__ = ["configure_pytensor_blas"]

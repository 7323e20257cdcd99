"""SVI statistical models (model building only; fitting lives in analysis/)."""

from models._env import configure_pytensor_blas

configure_pytensor_blas()

"""The one place attrib's version is written: the package metadata (pyproject.toml, through
scikit-build-core's regex provider), ``attrib.__version__`` and the C++ project read it from here."""

__version__ = "0.1.0"

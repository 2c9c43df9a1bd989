"""The ``attrib`` command line: ``attrib COMMAND`` or ``python -m attrib COMMAND``.

Commands: ``linear-loo``, ``glm-loo``, ``influence``, ``shapley``, ``knn-shapley``, ``demo``,
``info``; ``attrib COMMAND --help`` lists each one's options. The implementation is in
``attrib._cli`` (parser and commands), ``attrib._cli_io`` (files) and ``attrib._cli_demo``.
"""

from __future__ import annotations

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())

"""hwsim: hardware cost of head-pruned All-Attention language models on systolic arrays.

Data flows one way: model spec -> workload -> cost; checkpoint -> perplexity; both -> sweep results -> Pareto -> report.
The public API (``hwsim.api``, listed in ``__all__``) is re-exported here: ``hwsim.cost(...)``, ``hwsim.sweep(...)``.
"""

__version__ = "0.1.0"

from hwsim.api import *  # noqa: E402,F401,F403  (the public API, one place: hwsim.api.__all__)
from hwsim.api import __all__  # noqa: E402

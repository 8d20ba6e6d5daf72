"""hwsim: hardware cost of head-pruned All-Attention language models on systolic arrays.

Data flows one way: model spec -> workload -> cost; checkpoint -> perplexity; both -> sweep results -> Pareto -> report.
"""

__version__ = "0.1.0"

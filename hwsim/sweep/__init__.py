"""Design-space sweeps: pruning configurations x accelerators -> perplexity, cost and Pareto fronts."""

"""Torch side of hwsim: the All-Attention / Transformer-XL language models, head gates, training, pruning, evaluation.

Import the submodules directly (``hwsim.nn.model``, ``hwsim.nn.train``...); importing this package stays cheap.
"""

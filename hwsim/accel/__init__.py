"""Systolic-array accelerator cost model: configuration, GEMM cost (SCALE-Sim compatible), layer/model cost."""

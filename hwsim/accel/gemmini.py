"""Gemmini's own schedule of a weight-stationary GEMM: its software's tiling and its execute pipeline's timing.

``schedule = "gemmini"`` (``hwsim.accel.config``) replaces hwsim's mapping search and fold timing with what
ucb-bar/gemmini does, read from its sources (RTL at commit 8c3f992 of ucb-bar/gemmini, software at 180c468 of
ucb-bar/gemmini-rocc-tests; line numbers refer to those commits). Nothing here is fitted to a measured cycle count.

**Tiling** (gemmini-rocc-tests ``include/gemmini.h``, ``tiled_matmul_auto``, l. 1231-1308): tiles are counted in
DIM x DIM blocks (DIM = the mesh side). Weight-stationary loops are double-buffered, so a tile may use half the
scratchpad rows (A and B together: ``(I K + K J) DIM`` rows, l. 1220) and half the accumulator rows (``I J DIM``,
l. 1225). The start is I = J = floor(sqrt(ACC_ROWS / 2 / DIM)) and K = (SPAD_ROWS / 4 / DIM) / I, clipped to the
padded matrix (l. 1250-1275); then J, I and K grow by one block in turn while the tile fits (l. 1282-1308). The
software walks the tiles i0, j0, k0 (k innermost, l. 786-788), so partial sums stay in the accumulator; an operand
whose tiles number at most two along its own loops is loaded once (``a_reuse``/``b_reuse``, l. 783-784).

**Timing** (one stream of mesh requests through ``ExecuteController``): inside a tile the hardware unroller
(``LoopMatmul.scala`` ``LoopMatmulExecute``, l. 352-505) walks blocks k, j, i (i innermost) and issues for each a
PRELOAD (the B block when i = 0, a garbage address that keeps the weights otherwise, l. 420-421) then a COMPUTE
(the A block: DIM rows, fewer in the matrix's last row block, l. 406; loop order k, j, i, l. 474-476). The
execute controller pairs every COMPUTE with the PRELOAD that follows it into one mesh request
(``ExecuteController.scala`` l. 599-610); a request
feeds one row per cycle for ``total_rows`` cycles (``MeshWithDelays.scala`` l. 97-129), which is DIM unless the
request streams no new weights, when it is max(A rows, 4) (ExecuteController l. 285-302: the floor of 4 keeps two
writes to one accumulator row 4 cycles apart). So:

* the first PRELOAD runs alone: DIM cycles (l. 584-597);
* a COMPUTE followed by a new weight block (i = last row block) streams that block's DIM rows: DIM cycles; any
  other COMPUTE has DIM rows (only the matrix's last row block is shorter, and a weight PRELOAD always follows it
  except at the very end): DIM cycles. The weights' preload therefore hides behind the previous block's compute
  (the PE's double-buffered weight registers, ``PE.scala``), and a GEMM costs DIM cycles per block;
* the last COMPUTE runs alone: max(rows of the last row block, 4) cycles (l. 612-620);
* then the last row drains: 2 cycles of scratchpad read (``Scratchpad.scala`` ScratchpadBank: a SyncReadMem read,
  l. 163-172, and the non-flow ``ex_read_pipe`` queue, l. 548), 1 cycle in MeshWithDelays' input register (``a_buf``,
  l. 100), R + C - 1 cycles through the skewed mesh and its de-skew (one register per PE hop, tile_latency = 0,
  ``Mesh.scala`` l. 49-72; ``shifted``, MeshWithDelays l. 70-91), ``mesh_output_delay`` = 1 (Mesh l. 122) and
  ``acc_latency`` = 2 cycles of the accumulator's write pipeline (``AccumulatorMem.scala`` l. 113; both defaults in
  ``GemminiConfigs.scala`` l. 51, 82).

Compute cycles of an M x K by K x N GEMM = DIM ceil(M/DIM) ceil(N/DIM) ceil(K/DIM) + max(last rows, 4) + R + C + 4,
independent of the tiling (tiles are whole blocks). Before the first COMPUTE the array waits for the loaders' first
mvin of A and of B (``ld_ahead``; :func:`first_load_words`): the bandwidth model's prologue. Not modelled: scratchpad bank conflicts between A and the next
weights (each loop's A grows from the start of its half of the scratchpad and B from the end, LoopMatmul.scala
l. 387, 1296-1297, so they share a bank only when a tile's A or B outgrows one bank), DMA and reservation-station
stalls (the bandwidth model covers DRAM), bias loads (hwsim's GEMMs have none).
"""

from __future__ import annotations

import math

import numpy as np

# ExecuteController.scala l. 301: a request without new weights still feeds at least 4 rows.
MIN_REQUEST_ROWS = 4
SPAD_READ_CYCLES = 2  # SyncReadMem read + ex_read_pipe (Scratchpad.scala l. 163-172, 548)
MESH_INPUT_REGISTER_CYCLES = 1  # MeshWithDelays.scala l. 100 (a_buf)
MESH_OUTPUT_DELAY_CYCLES = 1  # GemminiConfigs.scala l. 82 (mesh_output_delay), Mesh.scala l. 122
ACC_WRITE_CYCLES = 2  # GemminiConfigs.scala l. 51 (acc_latency), AccumulatorMem.scala l. 113
# gemmini.h l. 1250-1254: the starting tile takes a quarter of the scratchpad (half of the double-buffered half).
START_PARTITION_DIVISOR = 4
DMA_MAX_BYTES = 64  # Configs.scala l. 68 (dma_maxbytes): one mvin moves at most this many bytes per row


def blocks(d, dim):
    """DIM-blocks along one dimension (ints or int arrays)."""
    return -(-d // dim)


def tile_cycles(dim: int, tm, tn, tk):
    """Execute cycles of one tile (element sizes): DIM per (i, j, k) block (see the module docstring)."""
    return dim * blocks(tm, dim) * blocks(tn, dim) * blocks(tk, dim)


def drain_cycles(rows: int, cols: int) -> int:
    """Cycles from the last row's scratchpad read to its results in the accumulator (module docstring)."""
    return SPAD_READ_CYCLES + MESH_INPUT_REGISTER_CYCLES + rows + cols - 1 + MESH_OUTPUT_DELAY_CYCLES + ACC_WRITE_CYCLES


def tail_cycles(dim: int, m: int) -> int:
    """Once per GEMM: the last COMPUTE alone (max(rows of the last row block, 4)) and the drain."""
    last_rows = m - dim * (blocks(m, dim) - 1)
    return max(last_rows, MIN_REQUEST_ROWS) + drain_cycles(dim, dim)


def compute_cycles(dim: int, m: int, n: int, k: int) -> int:
    """Execute cycles of one whole GEMM: DIM per block plus the tail."""
    return tile_cycles(dim, m, n, k) + tail_cycles(dim, m)


def first_load_words(dim: int, input_bytes: int, tm, tn, tk):
    """(A words, B words) loaded before the first COMPUTE may issue: LoopMatmulExecute waits until the loaders are
    past its block (``ld_ahead``, LoopMatmul.scala l. 458-461), and each loader's first mvin moves DIM rows of up to
    max_block_len blocks (l. 61-62, 898: DMA_MAX_BYTES / (DIM x input bytes), at least 1)."""
    width = dim * max(1, DMA_MAX_BYTES // (dim * input_bytes))
    return np.minimum(tm, dim) * np.minimum(tk, width), np.minimum(tk, dim) * np.minimum(tn, width)


def spad_rows(tile_i: int, tile_j: int, tile_k: int, dim: int, b_rows_per_row: float = 1.0) -> float:
    """Scratchpad rows of a tile's A and B blocks (gemmini.h l. 1220); B rows scale with the weight width."""
    return (tile_i * tile_k + tile_k * tile_j * b_rows_per_row) * dim


def tiles(m: int, n: int, k: int, *, dim: int, spad_bytes: int, acc_bytes: int, input_bytes: int, acc_word_bytes: int,
          b_rows_per_row: float = 1.0) -> tuple[int, int, int]:  # fmt: skip
    """``tiled_matmul_auto``'s tile (I, J, K) in blocks for a weight-stationary GEMM (module docstring)."""
    total_spad_rows = spad_bytes // (dim * input_bytes)  # BANK_NUM * BANK_ROWS: one row holds DIM inputs
    acc_rows = acc_bytes // (dim * acc_word_bytes)  # ACC_ROWS: one row holds DIM accumulators
    max_spad_rows, max_acc_rows = total_spad_rows // 2, acc_rows // 2  # double-buffered (l. 1262-1264)
    bi, bj, bk = blocks(m, dim), blocks(n, dim), blocks(k, dim)
    start_ij = max(1, math.isqrt(acc_rows // 2 // dim))
    start_k = max(1, (total_spad_rows // START_PARTITION_DIVISOR // dim) // start_ij)
    ti, tj, tk = min(bi, start_ij), min(bj, start_ij), min(bk, start_k)

    def fits(i: int, j: int, kk: int) -> bool:
        return spad_rows(i, j, kk, dim, b_rows_per_row) <= max_spad_rows and i * j * dim <= max_acc_rows

    while True:
        grew = False
        if tj + 1 <= bj and fits(ti, tj + 1, tk):
            tj, grew = tj + 1, True
        if ti + 1 <= bi and fits(ti + 1, tj, tk):
            ti, grew = ti + 1, True
        if tk + 1 <= bk and spad_rows(ti, tj, tk + 1, dim, b_rows_per_row) <= max_spad_rows:
            tk, grew = tk + 1, True
        if not grew:
            return ti, tj, tk


def loaded_once(trips_m: int, trips_n: int, trips_k: int) -> tuple[bool, bool]:
    """(A, B) loaded once however many times the other loop walks them: gemmini.h l. 783-784 (WS only)."""
    return trips_m * trips_k <= 2, trips_n * trips_k <= 2

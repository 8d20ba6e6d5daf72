"""Mapping search for one GEMM in physical mode: tile sizes and loop order that minimise DRAM bytes (or latency).

C[M x N] = A[M x K] @ B[K x N] is cut into tiles (Tm, Tn, Tk) walked by three nested tile loops (six orders).
The rule (shared/reference/mapping.md):

* a tile is legal iff the A tile fits half the ifmap buffer, the B tile half the filter buffer and the C tile
  (acc_bits words) half the accumulator (the other halves double-buffer the next tiles);
* an operand is refetched trips(loop it ignores) times iff a loop nested inside that loop, on which the operand
  depends, has more than one trip (A depends on m, k; B on k, n; C on m, n), else it is fetched once;
* partial sums that leave the accumulator (C refetched r times) go to DRAM and come back at acc_bits:
  2 * MN * (r - 1) * acc_bytes; finished outputs are written once at input_bits. Operands held on chip
  (``a_on`` / ``b_on`` / ``c_on``: resident in another buffer) cost no DRAM bytes, so the search ignores them.

Ties in DRAM bytes go to fewer compute cycles, then to fewer array SRAM accesses (larger tiles re-preload less),
then to a shorter prologue (first-fold operand bytes), then to the first loop order in :data:`ORDERS`.
Tiles are balanced: a dimension D cut into t trips uses tiles of ceil(D / t) (the last one smaller), so only
trip counts are searched: the distinct values of ceil(D / T), about 2 sqrt(D) per dimension (mapping.md).
A dimension the dataflow folds over an array side S may also take whole multiples of S, balanced over its
ceil(D / S) blocks: the same trips as some balanced tile, hence the same bytes, but no part-filled fold inside a
tile (traffic depends on trips only, so these never lower the bytes optimum; they win its cycle tie-break).
Traffic never grows with a tile, so for each pair of candidates of the two dimensions with fewer candidates, the
third dimension takes the fewest trips its buffers allow (and, if folded, the largest multiple of S that fits):
the search is one numpy pass over those pairs and the six orders, memoised per (shape, accelerator, on-chip
operands).

``mapping_objective = "latency"`` ranks the same candidates by the bandwidth model's total cycles,
max(compute, DRAM cycles) + prologue (``hwsim.accel.gemm``), then by DRAM bytes: a compute-bound GEMM keeps the
array full at the price of some bytes, where the default ("dram") keeps the fewest bytes whatever the folds.

Inside a tile the array runs the dataflow's fold schedule (``hwsim.accel.gemm``): folds = ceil(Sr/R) ceil(Sc/C)
of max(T, R) cycles each (consecutive folds and tiles overlap), plus one pipeline fill and drain of 2R + C - 3.

``schedule = "gemmini"`` replaces the search with Gemmini's own tiling and loop order, its one-load reuse of small
operands, and its execute pipeline's cycles (``hwsim.accel.gemmini``); the counts below are then of that schedule.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import asdict, dataclass

import numpy as np

from hwsim.accel import gemmini
from hwsim.accel.config import AccelConfig, Dataflow, MappingObjective, Schedule
from hwsim.errors import AccelConfigError

ORDERS = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")  # outer -> inner
DEPENDS = {"a": "mk", "b": "kn", "c": "mn"}  # the tile loops each operand's tile changes with
IGNORES = {"a": "n", "b": "m", "c": "k"}


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """The chosen schedule of one GEMM instance, and its per-instance counts (words unless named bytes)."""

    loop_order: str  # outer -> inner, e.g. "mnk"
    tile_m: int
    tile_n: int
    tile_k: int
    trips_m: int
    trips_n: int
    trips_k: int
    refetch_a: int  # times A (the ifmap) is read from DRAM
    refetch_b: int  # times B (the filter) is read
    refetch_c: int  # times each output's accumulator tile is (re)started; > 1 spills partial sums
    dram_a_words: int  # M K refetch_a (0 when A is on chip)
    dram_b_words: int
    dram_c_words: int  # finished outputs written at input width (0 when C is on chip)
    psum_spill_words: int  # M N (refetch_c - 1): written to DRAM and read back, each at acc width
    dram_bytes: int
    fill_a_words: int  # A words brought into the ifmap buffer (from DRAM or an on-chip buffer)
    fill_b_words: int
    folds: int
    compute_cycles: int
    fill_cycles: int  # the part of compute_cycles paid once per run of instances: the pipeline's fill and drain
    used_pe_folds: int  # sum over folds of used PEs (mapping efficiency = used / (folds R C))
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int
    sram_ofmap_reads: int
    first_a_words: int  # operand words of the first fold (the prologue before the array starts)
    first_b_words: int

    def to_dict(self) -> dict:
        return asdict(self)


def refetch(operand: str, order: str, trips: dict[str, int | np.ndarray]):
    """The rule: trips of the ignored loop iff a dependent loop inside it has > 1 trip (ints or int arrays)."""
    ignored = IGNORES[operand]
    inner = order[order.index(ignored) + 1 :]
    moving = False
    for loop in inner:
        moving = moving | (trips[loop] > 1)
    return np.where(moving, trips[ignored], 1)


def tile_candidates(d: int) -> np.ndarray:
    """Balanced tiles ceil(d / t) for every distinct trip count t, largest tile first."""
    return np.unique(-(-d // np.arange(1, d + 1, dtype=np.int64)))[::-1]


def tiles_sum(fn, m: int, n: int, k: int, tm, tn, tk):
    """Sum of ``fn(tile_m, tile_n, tile_k)`` over every tile of the GEMM (full tiles and the smaller edge tiles)."""
    total = 0
    parts = []
    for d, t in ((m, tm), (n, tn), (k, tk)):
        t = np.asarray(t)
        parts.append(((d // t, t), (np.where(d % t > 0, 1, 0), d % t)))
    for (cm, sm), (cn, sn), (ck, sk) in itertools.product(*parts):
        total = total + cm * cn * ck * fn(sm, sn, sk)
    return total


def _per_tile(accel: AccelConfig):
    """Array-level counts of one tile: folds, cycles, used PEs, SRAM reads and accumulator writes."""
    df, rows, cols = accel.dataflow, accel.rows, accel.cols

    def shape(tm, tn, tk):
        if df is Dataflow.OS:
            return tm, tn, tk
        return (tk, tn, tm) if df is Dataflow.WS else (tk, tm, tn)

    def folds(tm, tn, tk):
        sr, sc, _ = shape(tm, tn, tk)
        return -(-sr // rows) * -(-sc // cols)

    def cycles(tm, tn, tk):
        if accel.schedule is Schedule.GEMMINI:
            return gemmini.tile_cycles(rows, tm, tn, tk)
        return folds(tm, tn, tk) * np.maximum(shape(tm, tn, tk)[2], rows)

    def used(tm, tn, tk):
        sr, sc, _ = shape(tm, tn, tk)
        return sr * sc

    def if_reads(tm, tn, tk):
        return tm * tk if df is Dataflow.IS else tm * tk * -(-tn // cols)

    def f_reads(tm, tn, tk):
        if df is Dataflow.WS:
            return tk * tn
        return tk * tn * -(-tm // (rows if df is Dataflow.OS else cols))

    def of_writes(tm, tn, tk):
        return tm * tn if df is Dataflow.OS else tm * tn * -(-tk // rows)

    return dict(folds=folds, cycles=cycles, used=used, if_reads=if_reads, f_reads=f_reads, of_writes=of_writes)


def pipeline_cycles(accel: AccelConfig, m: int) -> int:
    """Once per GEMM: the array's fill and drain (one fold's 2R + C - 3; Gemmini: its last request and drain)."""
    if accel.schedule is Schedule.GEMMINI:
        return gemmini.tail_cycles(accel.rows, m)
    return 2 * accel.rows + accel.cols - 3


def first_fold_words(accel: AccelConfig, tm, tn, tk):
    """(A words, B words) the array needs before its first fold can start (tile dims)."""
    rows, cols = accel.rows, accel.cols
    if accel.schedule is Schedule.GEMMINI:
        return gemmini.first_load_words(rows, accel.input_bytes, tm, tn, tk)
    if accel.dataflow is Dataflow.OS:
        return np.minimum(tm, rows) * tk, tk * np.minimum(tn, cols)
    if accel.dataflow is Dataflow.WS:
        return tm * np.minimum(tk, rows), np.minimum(tk, rows) * np.minimum(tn, cols)
    return np.minimum(tk, rows) * np.minimum(tm, cols), np.minimum(tk, rows) * tn


def half_buffers(accel: AccelConfig, b_bits: int | None = None) -> tuple[int, int, int]:
    """Words of half the ifmap, filter and accumulator buffers (tile capacity under double buffering); the filter
    buffer's words are ``b_bits`` wide (the B operand's width: narrower weights pack more per byte)."""
    b_bits = b_bits or accel.input_bits
    b_half = accel.weight_buffer_bytes * 8 // b_bits // 2  # unified: the whole shared half (then _pairs shares it)
    halves = accel.ifmap_sram_words // 2, b_half, accel.ofmap_sram_words // 2
    if min(halves) < 1:
        raise AccelConfigError(
            f"accel '{accel.name}': physical mode needs at least 2 words in each buffer (ifmap, filter: input_bits "
            f"words; ofmap: acc_bits words), got {accel.ifmap_sram_bytes}, {accel.filter_sram_bytes}, "
            f"{accel.ofmap_sram_bytes} bytes"
        )
    return halves


CONSTRAINTS = (("m", "k", 0), ("k", "n", 1), ("m", "n", 2))  # (dim, dim, buffer): A ifmap, B filter, C acc


def tile_fits(accel: AccelConfig, tm: int, tn: int, tk: int, b_bits: int | None = None) -> bool:
    """The double-buffering rule for one tile: A in half the ifmap buffer and B in half the filter buffer (or A and
    B together in half a unified scratchpad), C in half the accumulator."""
    return bool(fits_mask(accel, tm, tn, tk, b_bits))


def fits_mask(accel: AccelConfig, tm, tn, tk, b_bits: int | None = None):
    """:func:`tile_fits` on ints or int arrays (an array of bools)."""
    b_bits = b_bits or accel.input_bits
    half_a, half_b, half_c = half_buffers(accel, b_bits)
    if accel.unified_scratchpad:
        ab = tm * tk * accel.input_bits + tk * tn * b_bits <= accel.ifmap_sram_bytes // 2 * 8
    else:
        ab = (tm * tk <= half_a) & (tk * tn <= half_b)
    return ab & (tm * tn <= half_c)


def _pairs(m: int, n: int, k: int, halves: tuple[int, int, int], shared: tuple[int, int, int] | None,
           sides: dict[str, int]) -> dict[str, np.ndarray]:  # fmt: skip
    """Legal balanced tiles: every candidate pair of two dimensions, the third with the fewest trips allowed.
    ``shared`` = (bits of the unified scratchpad's half, A bits, B bits): the A and B tiles must fit it together.
    ``sides``: the array side each folded dimension is folded over; its tiles may also be whole multiples of it
    (balanced over blocks of the side), and the third dimension may also take the largest such multiple."""
    dims = {"m": m, "n": n, "k": k}
    cands = {d: _with_aligned(tile_candidates(v), v, sides.get(d)) for d, v in dims.items()}
    derived = max("mnk", key=lambda d: len(cands[d]))
    x, y = (d for d in "mnk" if d != derived)
    gx, gy = np.meshgrid(cands[x], cands[y], indexing="ij")
    tiles = {x: gx.ravel(), y: gy.ravel()}
    cap = np.full(tiles[x].shape, dims[derived], dtype=np.int64)
    legal = np.ones(tiles[x].shape, dtype=bool)
    for d1, d2, buf in CONSTRAINTS:
        if derived in (d1, d2):
            other = d2 if d1 == derived else d1
            cap = np.minimum(cap, halves[buf] // tiles[other])
        else:
            legal &= tiles[d1] * tiles[d2] <= halves[buf]
    if shared is not None:  # A (m x k) and B (k x n) tiles in one half: bits of A + bits of B <= the half's bits
        room, a_bits, b_bits = shared
        if derived == "m":
            cap = np.minimum(cap, (room - tiles["k"] * tiles["n"] * b_bits) // (tiles["k"] * a_bits))
        elif derived == "n":
            cap = np.minimum(cap, (room - tiles["m"] * tiles["k"] * a_bits) // (tiles["k"] * b_bits))
        else:
            cap = np.minimum(cap, room // (tiles["m"] * a_bits + tiles["n"] * b_bits))
    legal &= cap >= 1
    trips_d = -(-dims[derived] // np.maximum(cap, 1))
    tiles[derived] = -(-dims[derived] // trips_d)
    side = sides.get(derived)
    if side:  # also the largest tile that fits and the largest whole multiple of the side, where they differ
        largest = np.minimum(cap, dims[derived])
        variants = [largest, largest // side * side]
        base = {d: t[legal] for d, t in tiles.items()}
        for variant in variants:
            extra = legal & (variant >= 1) & (variant != tiles[derived])
            base = {d: np.concatenate([base[d], variant[extra] if d == derived else tiles[d][extra]]) for d in tiles}
        return base
    return {d: t[legal] for d, t in tiles.items()}


EXHAUSTIVE_TILES = 50_000  # latency objective: GEMMs with at most this many (Tm, Tn, Tk) triples try every one


def _all_tiles(m: int, n: int, k: int, accel: AccelConfig, b_bits: int) -> dict[str, np.ndarray]:
    """Every legal tile size 1..D of every dimension (small GEMMs, where edge tiles and the prologue matter)."""
    gm, gn, gk = (g.ravel() for g in np.meshgrid(np.arange(1, m + 1), np.arange(1, n + 1), np.arange(1, k + 1),
                                                  indexing="ij"))  # fmt: skip
    legal = fits_mask(accel, gm, gn, gk, b_bits)
    return {"m": gm[legal], "n": gn[legal], "k": gk[legal]}


def _with_aligned(candidates: np.ndarray, d: int, side: int | None) -> np.ndarray:
    """Balanced tiles, plus (given an array side) balanced whole multiples of the side, largest first."""
    if not side or d <= side:
        return candidates
    blocks = side * tile_candidates(-(-d // side))
    return np.unique(np.concatenate([candidates, np.minimum(blocks, d)]))[::-1]


def folded_sides(accel: AccelConfig) -> dict[str, int]:
    """The GEMM dimensions the dataflow folds over the array's rows and columns (scalesim.md §3)."""
    rows, cols = accel.rows, accel.cols
    if accel.dataflow is Dataflow.OS:
        return {"m": rows, "n": cols}
    return {"k": rows, "n": cols} if accel.dataflow is Dataflow.WS else {"k": rows, "m": cols}


def packed_bytes(words, bits: int):
    """Bytes of ``words`` values of ``bits`` each, packed (4-bit weights: two to a byte, the last byte rounded up)."""
    return -(-(words * bits) // 8)


def _traffic_bytes(accel: AccelConfig, m, n, k, refs, on: tuple[bool, bool, bool], b_bits: int):
    """DRAM bytes given each operand's fetch count (ints or arrays): the rule in the module docstring."""
    ib, ab = accel.input_bytes, accel.acc_bytes
    ref_a, ref_b, ref_c = refs
    a_bytes = 0 if on[0] else m * k * ref_a * ib
    b_bytes = 0 if on[1] else packed_bytes(k * n * ref_b, b_bits)
    c_bytes = 0 if on[2] else m * n * ib
    return a_bytes + b_bytes + c_bytes + 2 * m * n * (ref_c - 1) * ab


@functools.lru_cache(maxsize=1 << 16)
def best_mapping(m: int, n: int, k: int, accel: AccelConfig, on: tuple[bool, bool, bool] = (False,) * 3,
                 b_bits: int | None = None) -> Mapping:  # fmt: skip
    """The mapping of an m x k by k x n GEMM with the fewest DRAM bytes (ties: fewer cycles), or with the fewest
    total cycles (ties: fewer bytes) under ``mapping_objective = "latency"``; ``on`` marks the
    operands (A, B, C) held on chip; ``b_bits``: the B operand's width (default input_bits; the weight width for a
    weight operand). Memoised per (shape, accelerator, on-chip operands, B width)."""
    m, n, k = int(m), int(n), int(k)
    if min(m, n, k) < 1:
        raise ValueError(f"best_mapping needs positive dimensions, got {(m, n, k)}")
    b_bits = b_bits or accel.input_bits
    if accel.schedule is Schedule.GEMMINI:
        return _gemmini_mapping(m, n, k, accel, on, b_bits)
    shared = (accel.ifmap_sram_bytes // 2 * 8, accel.input_bits, b_bits) if accel.unified_scratchpad else None
    latency_first = accel.mapping_objective is MappingObjective.LATENCY
    if latency_first and m * n * k <= EXHAUSTIVE_TILES:
        tiles = _all_tiles(m, n, k, accel, b_bits)
    else:
        tiles = _pairs(m, n, k, half_buffers(accel, b_bits), shared, folded_sides(accel))
    trips = {d: -(-v // tiles[d]) for d, v in (("m", m), ("n", n), ("k", k))}
    per_tile = _per_tile(accel)
    cycles = tiles_sum(per_tile["cycles"], m, n, k, tiles["m"], tiles["n"], tiles["k"])
    sram = sum(tiles_sum(per_tile[name], m, n, k, tiles["m"], tiles["n"], tiles["k"])
               for name in ("if_reads", "f_reads", "of_writes"))  # fmt: skip
    n_pairs = len(tiles["m"])
    traffic = np.stack([np.broadcast_to(_traffic_bytes(accel, m, n, k, [refetch(x, order, trips) for x in "abc"], on,
                                                       b_bits), (n_pairs,))
                        for order in ORDERS])  # fmt: skip  # (6 orders, pairs)
    fa, fb = first_fold_words(accel, tiles["m"], tiles["n"], tiles["k"])
    first = np.where(on[0], 0, fa * accel.input_bytes) + np.where(on[1], 0, packed_bytes(fb, b_bits))
    prologue = np.ceil(first / accel.dram_bytes_per_cycle)
    compute = cycles + pipeline_cycles(accel, m)
    order_idx = np.repeat(np.arange(len(ORDERS)), n_pairs)
    pair_idx = np.tile(np.arange(n_pairs), len(ORDERS))
    keys = (pair_idx, order_idx, prologue[pair_idx], sram[pair_idx], compute[pair_idx], traffic.ravel())
    if latency_first:  # the double-buffered bandwidth model's total cycles first (hwsim.accel.gemm), then bytes
        dram_cycles = np.ceil(traffic.ravel() / accel.dram_bytes_per_cycle)
        keys = (*keys, np.maximum(compute[pair_idx], dram_cycles) + prologue[pair_idx])
    best = np.lexsort(keys)[0]
    o, p = int(order_idx[best]), int(pair_idx[best])
    return mapping_for(m, n, k, accel, ORDERS[o], int(tiles["m"][p]), int(tiles["n"][p]), int(tiles["k"][p]), on,
                       b_bits)  # fmt: skip


def _gemmini_mapping(m: int, n: int, k: int, accel: AccelConfig, on: tuple[bool, bool, bool], b_bits: int) -> Mapping:
    """Gemmini's tile (whole DIM blocks, the last tile smaller) walked i0, j0, k0 (hwsim.accel.gemmini)."""
    dim = accel.rows
    tile = gemmini.tiles(m, n, k, dim=dim, spad_bytes=accel.ifmap_sram_bytes, acc_bytes=accel.ofmap_sram_bytes,
                         input_bytes=accel.input_bytes, acc_word_bytes=accel.acc_bytes,
                         b_rows_per_row=b_bits / accel.input_bits)  # fmt: skip
    tm, tn, tk = (min(d, t * dim) for d, t in zip((m, n, k), tile))
    return mapping_for(m, n, k, accel, "mnk", tm, tn, tk, on, b_bits)


def mapping_for(
    m: int, n: int, k: int, accel: AccelConfig, order: str, tile_m: int, tile_n: int, tile_k: int,
    on: tuple[bool, bool, bool] = (False,) * 3, b_bits: int | None = None,
) -> Mapping:  # fmt: skip
    """Counts of one given schedule (legality is the caller's business; :func:`best_mapping` only asks legal ones)."""
    trips = {"m": -(-m // tile_m), "n": -(-n // tile_n), "k": -(-k // tile_k)}
    ref = {x: int(refetch(x, order, trips)) for x in "abc"}
    if accel.schedule is Schedule.GEMMINI:  # an operand in at most two tiles is loaded once (gemmini.h)
        a_once, b_once = gemmini.loaded_once(trips["m"], trips["n"], trips["k"])
        ref["a"], ref["b"] = (1 if a_once else ref["a"]), (1 if b_once else ref["b"])
    b_bits = b_bits or accel.input_bits
    pt = _per_tile(accel)

    def total(name: str) -> int:
        return int(tiles_sum(pt[name], m, n, k, tile_m, tile_n, tile_k))

    writes = total("of_writes")
    fa, fb = first_fold_words(accel, tile_m, tile_n, tile_k)
    return Mapping(
        loop_order=order, tile_m=tile_m, tile_n=tile_n, tile_k=tile_k,
        trips_m=trips["m"], trips_n=trips["n"], trips_k=trips["k"],
        refetch_a=ref["a"], refetch_b=ref["b"], refetch_c=ref["c"],
        dram_a_words=0 if on[0] else m * k * ref["a"], dram_b_words=0 if on[1] else k * n * ref["b"],
        dram_c_words=0 if on[2] else m * n, psum_spill_words=m * n * (ref["c"] - 1),
        dram_bytes=int(_traffic_bytes(accel, m, n, k, (ref["a"], ref["b"], ref["c"]), on, b_bits)),
        fill_a_words=m * k * ref["a"], fill_b_words=k * n * ref["b"],
        folds=total("folds"), compute_cycles=total("cycles") + pipeline_cycles(accel, m),
        fill_cycles=pipeline_cycles(accel, m),
        used_pe_folds=total("used"), sram_ifmap_reads=total("if_reads"), sram_filter_reads=total("f_reads"),
        sram_ofmap_writes=writes, sram_ofmap_reads=writes - m * n,
        first_a_words=int(fa), first_b_words=int(fb),
    )  # fmt: skip

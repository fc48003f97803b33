"""A numba intrinsic that asks the CPU to start loading a matrix row before it is needed.

Random rows of a large embedding matrix cost a memory round trip each; issuing
``llvm.prefetch`` hints a few pairs ahead overlaps those round trips with the
arithmetic of the current pair. It is only a hint: results never depend on it.

The hint asks for the second-level cache (``prefetcht2`` on x86, LLVM locality 1), not the first: a
hint into L1 holds one of the core's few L1 miss buffers until its line arrives, so with 32 lines a
512-d float32 row and several rows in flight the hints queue behind each other; into L2 they use its
larger miss queue, and the row's later loads are L2 hits. Measured here in one process under the
benchmark lock (1,000,000 random pairs on 100,000 x 512 float32, docs/benchmarks.md): the row floor of
``benchmarks/bench_paired.py`` took 0.114 s with locality 1 against 0.139 s with 3, and paired
euclidean / cosine (with the packed plan of ``drivers.bucket_sort`` too, about 4 ms of the gain)
0.154 / 0.167 s against 0.209 / 0.240 s; locality 2 measured as 1, and 0 as 3.

A second, short-range hint (:func:`prefetch_row_l1`) then moves the row needed two pairs later from L2
into L1 while the current pair is computed: without it the kernel's loads of each row wait on L2 and
the float64 arithmetic does not overlap them. Measured in one process, rounds in turns, on a quiet
machine (``benchmarks/paired_variants.py``'s setting, 1,000,000 pairs): metricbench's sqeuclidean
kernel 1.28x the floor's CPU time without it, 1.14x with it; the floor itself is unchanged by it (1.00x).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: LLVM's locality argument of ``llvm.prefetch``: 3 = L1 (``prefetcht0``), 2 = ``prefetcht1``,
#: 1 = ``prefetcht2`` (L2 on current x86 cores), 0 = non-temporal. Functions compiled with
#: ``cache=True`` keep the value they were compiled with until their own source file changes.
LOCALITY = 1


def _row_hint(locality: int, doc: str):
    """An intrinsic ``f(arr, row)`` hinting a read of every 64-byte line of a row, into ``locality``."""

    @intrinsic
    def hint(typingctx, arr, row):
        if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(row, types.Integer)):
            return None
        sig = types.void(arr, row)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            zero = context.get_constant(types.intp, 0)
            row = context.cast(builder, args[1], signature.args[1], types.intp)  # int32 rows too
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [row, zero])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            itemsize = context.get_constant(types.intp, aryty.dtype.bitwidth // 8)
            rowbytes = builder.mul(itemsize, builder.extract_value(ary.shape, 1))
            base = builder.bitcast(ptr, i8p)
            step = context.get_constant(types.intp, 64)
            with cgutils.for_range_slice(builder, zero, rowbytes, step) as (off, _):
                # read access, the given locality, data cache
                builder.call(fn, [builder.gep(base, [off]), ir.Constant(i32, 0), ir.Constant(i32, locality),
                                  ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return sig, codegen

    hint.__doc__ = doc
    return hint


prefetch_row = _row_hint(LOCALITY, "Hint a read of every 64-byte line of row ``row`` of the C-contiguous 2-D array "
                                   "``arr`` into L2 (:data:`LOCALITY`).")
prefetch_row_l1 = _row_hint(3, "The same hint into L1 (``prefetcht0``): for the row needed next, already on its "
                               "way into L2.")

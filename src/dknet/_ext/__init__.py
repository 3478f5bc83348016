"""dknet's compiled CUDA extension (``dknet._ext._C``), built by ``setup.py`` when CUDA is there.

The sources live in ``csrc/``: one folder per op with a documented contract (``<op>.h``), CUDA
kernels free of torch headers (``<op>_cuda.cu``) and the torch glue (``<op>.cpp``), plus
``bindings.cpp``, which defines the ``torch.ops.dknet.*`` schemas and ``build_info()``.

Nothing is imported here: :mod:`dknet.ops._backend` is the only module that loads ``_C``, lazily
on the first op call, and it turns a missing or broken build into a classified, one-line error.
"""

from __future__ import annotations

__all__: list[str] = []

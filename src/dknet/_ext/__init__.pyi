# Type stubs of the dknet._ext package. The compiled module itself is described in _C.pyi.
from dknet._ext import _C as _C

__all__: list[str]

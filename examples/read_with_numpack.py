# The README's Python side: open the store the C, C++ or Fortran quick start wrote, with numpack.
import sys

import numpy as np
from numpack import NumPack

with NumPack(sys.argv[1] if len(sys.argv) > 1 else "quickstart.npk") as npk:
    field = npk.load("field")
    print(field.dtype, field.shape)
    print(field)

expected = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [-1, -1, -1]], dtype=np.float64) * 2
assert np.array_equal(field, expected), field

# After `mpirun -np N ./mpi_checkpoint DIR`: numpack opens the store the N ranks wrote together
# and checks every value of every array against the formulas in mpi_checkpoint.c.
import sys

import numpy as np
from numpack import NumPack

with NumPack(sys.argv[1] if len(sys.argv) > 1 else "checkpoint.npk") as npk:
    assert sorted(npk.get_member_list()) == ["rho", "step", "u"], npk.get_member_list()
    u, rho, step = npk.load("u"), npk.load("rho"), npk.load("step")

i, j = np.indices((1001, 37))
assert u.dtype == np.float64 and np.array_equal(u, 1000.0 * i + j), u
i, j, k = np.indices((50, 6, 5))
assert rho.dtype == np.float32 and np.array_equal(rho, 10000 * i + 100 * j + k), rho
assert step.dtype == np.int64 and step.tolist() == [42], step  # written last: checkpoint complete
print(f"numpack: u {u.shape}, rho {rho.shape} and step {step[0]} are right, every value")

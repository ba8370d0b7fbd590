! The README's Fortran quick start: save a column-major array, scale it in place, read it back.
program quickstart
  use, intrinsic :: iso_c_binding, only: c_ptr, c_double
  use numpack
  implicit none
  type(c_ptr) :: store, batch
  type(npk_view) :: view
  real(c_double) :: field(4, 3)          ! NumPy sees shape (4, 3): field(i,j) = arr[i-1, j-1]
  real(c_double), pointer :: v(:, :)     ! views are C order, shape reversed: v(j,i) = arr[i-1, j-1]
  real(c_double), allocatable :: back(:, :)
  character(len=256) :: path = 'quickstart.npk'
  integer :: i, j

  if (command_argument_count() > 0) call get_command_argument(1, path)
  field = reshape([((10.0_c_double * i + j, i = 1, 4), j = 1, 3)], [4, 3])   ! field(i,j) = 10i+j
  call npk_check(npk_open_store(path, NPK_OPEN_CREATE, store))
  call npk_check(npk_save_array(store, 'field', field))

  call npk_check(npk_writable_batch_begin(store, batch))      ! zero-copy in-place update
  call npk_check(npk_batch_load_view(batch, 'field', view))
  call npk_check(npk_view_array(view, v))                     ! v has shape (3, 4)
  v = 2 * v
  v(3, 4) = -1                                                ! arr[3, 2], i.e. field(4, 3)
  call npk_check(npk_batch_end(batch))

  call npk_check(npk_load_alloc(store, 'field', back))
  print '(a, f0.1, a, f0.1)', 'field(2,3) = ', back(2, 3), ', field(4,3) = ', back(4, 3)
  call npk_check(npk_close_store(store))
end program quickstart

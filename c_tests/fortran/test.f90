! Tests of the Fortran binding (fortran/numpack.f90). Usage: test_fortran PHASE STORE
!   write        creates STORE with arrays of every kind at ranks 1-3 (A(i,j) = 10*i + j, ...),
!                reads them back (copies, allocatables, views), checks error statuses
!   update       changes STORE through a writable batch and a cache batch
!   abort-check  calls npk_check on a failure, which must stop the program (the Makefile checks)
! c_reader.c and check.py read STORE after each of the first two phases. Prints
! "fortran_PHASE: N passed, M failed" and stops with a non-zero code if anything failed.
module ftest
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  use numpack
  implicit none
  integer :: passed = 0, failed = 0
  integer(c_int64_t), parameter :: OFF_I8 = 2_c_int64_t**40

  interface
    subroutine npk_ftest_layout(out) bind(C, name="npk_ftest_layout")
      import :: c_int64_t
      integer(c_int64_t), intent(out) :: out(20)
    end subroutine npk_ftest_layout
  end interface

contains

  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(*), intent(in) :: what
    if (ok) then
      passed = passed + 1
    else
      failed = failed + 1
      write (error_unit, '(a)') 'test.f90: FAILED: ' // what
    end if
  end subroutine check

  ! Checks a status; on a mismatch shows both names and the last error message.
  subroutine check_st(st, want, what)
    integer(c_int32_t), intent(in) :: st, want
    character(*), intent(in) :: what
    if (st == want) then
      passed = passed + 1
    else
      failed = failed + 1
      write (error_unit, '(a)') 'test.f90: FAILED: ' // what // ': got ' // npk_status_name(st) &
        // ', want ' // npk_status_name(want) // ': ' // npk_error_message()
    end if
  end subroutine check_st

  subroutine check_ok(st, what)
    integer(c_int32_t), intent(in) :: st
    character(*), intent(in) :: what
    call check_st(st, NPK_OK, what)
  end subroutine check_ok

  ! Base values: A(i) = i, A(i,j) = 10*i + j, A(i,j,k) = 100*i + 10*j + k.
  function base1(n) result(a)
    integer, intent(in) :: n
    integer(c_int64_t) :: a(n)
    integer :: i
    do i = 1, n
      a(i) = i
    end do
  end function base1

  function base2(n1, n2) result(a)
    integer, intent(in) :: n1, n2
    integer(c_int64_t) :: a(n1, n2)
    integer :: i, j
    do j = 1, n2
      do i = 1, n1
        a(i, j) = 10 * i + j
      end do
    end do
  end function base2

  function base3(n1, n2, n3) result(a)
    integer, intent(in) :: n1, n2, n3
    integer(c_int64_t) :: a(n1, n2, n3)
    integer :: i, j, k
    do k = 1, n3
      do j = 1, n2
        do i = 1, n1
          a(i, j, k) = 100 * i + 10 * j + k
        end do
      end do
    end do
  end function base3

  logical function contains_text(haystack, needle)
    character(*), intent(in) :: haystack, needle
    contains_text = index(haystack, needle) > 0
  end function contains_text

  ! ------------------------------------------------------------------------------------------
  subroutine phase_write(path)
    character(*), intent(in) :: path
    type(c_ptr) :: store, reader, other, batch
    integer(c_int64_t) :: lay(20)
    type(npk_view), target :: view
    type(npk_array_info), target :: info
    real(c_float) :: r4_1(5), r4_2(3, 4), r4_3(2, 3, 4)
    real(c_double) :: r8_1(5), r8_2(3, 4), r8_3(2, 3, 4), r8_0, r8_empty(0, 3)
    integer(c_int32_t) :: i4_1(5), i4_2(3, 4), i4_3(2, 3, 4), app(2, 3), app_row(1, 3)
    integer(c_int64_t) :: i8_1(5), i8_2(3, 4), i8_3(2, 3, 4)
    integer(c_int8_t) :: i1_2(3, 4)
    integer(c_int16_t) :: i2_2(3, 4)
    complex(c_double_complex) :: c8_2(3, 4)
    complex(c_float_complex) :: c4_1(5)
    logical(c_bool) :: lb_2(3, 4)
    ! read back
    real(c_float) :: g_r4_1(5), g_r4_2(3, 4), g_r4_3(2, 3, 4), wrong_r4(3, 4)
    real(c_double) :: g_r8_1(5), g_r8_2(3, 4), g_r8_3(2, 3, 4), g_r8_0, wrong_shape(4, 3)
    integer(c_int32_t) :: g_i4_1(5), g_i4_2(3, 4), g_i4_3(2, 3, 4)
    integer(c_int64_t) :: g_i8_1(5), g_i8_2(3, 4), g_i8_3(2, 3, 4)
    real(c_float), allocatable :: a_r4_1(:), a_r4_2(:, :), a_r4_3(:, :, :), bad_r4(:, :)
    real(c_double), allocatable :: a_r8_1(:), a_r8_2(:, :), a_r8_3(:, :, :), bad_rank(:, :, :)
    real(c_double), allocatable :: a_empty(:, :), a_sec(:, :)
    integer(c_int32_t), allocatable :: a_i4_1(:), a_i4_2(:, :), a_i4_3(:, :, :), a_app(:, :)
    integer(c_int64_t), allocatable :: a_i8_1(:), a_i8_2(:, :), a_i8_3(:, :, :)
    integer(c_int8_t), allocatable :: a_i1_2(:, :)
    integer(c_int16_t), allocatable :: a_i2_2(:, :)
    complex(c_double_complex), allocatable :: a_c8_2(:, :)
    complex(c_float_complex), allocatable :: a_c4_1(:)
    logical(c_bool), allocatable :: a_lb_2(:, :)
    real(c_float), pointer :: p_r4_2(:, :) => null(), p_bad(:, :) => null()
    real(c_double), pointer :: p_r8_2(:, :) => null(), p_r8_1(:) => null(), p_empty(:, :) => null()
    integer(c_int64_t), pointer :: p_i8_3(:, :, :) => null()
    type(npk_name_list) :: list
    character(len=:), allocatable :: msg
    character(len=5) :: drop_names(2)
    integer(c_int64_t), target :: rows_idx(2)
    real(c_double), target :: rows(2, 4), row_new(1, 4)
    integer(c_int64_t) :: needed, count
    logical :: exists, ok
    integer :: i, j, k

    ! --- versions, constants, layout --------------------------------------------------------
    call check(npk_version_number() == NPK_VERSION_MAJOR * 10000 + NPK_VERSION_MINOR * 100 &
      + NPK_VERSION_PATCH, 'npk_version_number matches the NPK_VERSION_* constants')
    call check(npk_version_string() == '0.1.0', 'npk_version_string: ' // npk_version_string())
    call check(npk_status_name(NPK_NOT_FOUND) == 'NPK_NOT_FOUND', 'npk_status_name')
    call check(npk_status_name(99_c_int32_t) == 'NPK_UNKNOWN', 'npk_status_name(99)')
    call check(npk_dtype_size(NPK_FLOAT64) == 8 .and. npk_dtype_size(NPK_COMPLEX128) == 16 &
      .and. npk_dtype_size(NPK_BOOL) == 1 .and. npk_dtype_size(99_c_int32_t) == 0, &
      'npk_dtype_size')
    call npk_ftest_layout(lay)
    call check(c_sizeof(view) == lay(1), 'sizeof(npk_view) is ' // itoa(lay(1)))
    call check(off(c_loc(view%data)) == lay(2) .and. off(c_loc(view%dtype)) == lay(3) &
      .and. off(c_loc(view%ndim)) == lay(4) .and. off(c_loc(view%shape)) == lay(5) &
      .and. off(c_loc(view%strides)) == lay(6) .and. off(c_loc(view%itemsize)) == lay(7) &
      .and. off(c_loc(view%nbytes)) == lay(8) .and. off(c_loc(view%writable)) == lay(9) &
      .and. off(c_loc(view%owner)) == lay(10) .and. off(c_loc(view%struct_size)) == lay(19), &
      'npk_view offsets match C')
    call check(c_sizeof(info) == lay(11), 'sizeof(npk_array_info) is ' // itoa(lay(11)))
    call check(offi(c_loc(info%dtype)) == lay(12) .and. offi(c_loc(info%ndim)) == lay(13) &
      .and. offi(c_loc(info%shape)) == lay(14) .and. offi(c_loc(info%nbytes)) == lay(15) &
      .and. offi(c_loc(info%modify_time_us)) == lay(16) &
      .and. offi(c_loc(info%physical_rows)) == lay(17) &
      .and. offi(c_loc(info%segmented)) == lay(18) .and. offi(c_loc(info%struct_size)) == lay(20), &
      'npk_array_info offsets match C')
    ! A declared variable is ready to pass: struct_size starts as C's sizeof.
    call check(view%struct_size == lay(1) .and. NPK_VIEW_SIZE == lay(1), &
      'npk_view%struct_size starts as sizeof(npk_view)')
    call check(info%struct_size == lay(11) .and. NPK_ARRAY_INFO_SIZE == lay(11), &
      'npk_array_info%struct_size starts as sizeof(npk_array_info)')
    call check(npk_cstr('ab  ') == 'ab' // c_null_char, 'npk_cstr trims and adds NUL')

    ! --- write every kind at ranks 1-3 -------------------------------------------------------
    call check_ok(npk_open_store(path, NPK_OPEN_CREATE, store), 'open ' // path)
    if (.not. c_associated(store)) return
    r4_1 = real(base1(5), c_float) + 0.25_c_float
    r4_2 = real(base2(3, 4), c_float) + 0.25_c_float
    r4_3 = real(base3(2, 3, 4), c_float) + 0.25_c_float
    r8_1 = real(base1(5), c_double) + 0.125_c_double
    r8_2 = real(base2(3, 4), c_double) + 0.125_c_double
    r8_3 = real(base3(2, 3, 4), c_double) + 0.125_c_double
    i4_1 = int(base1(5), c_int32_t)
    i4_2 = int(base2(3, 4), c_int32_t)
    i4_3 = int(base3(2, 3, 4), c_int32_t)
    i8_1 = base1(5) + OFF_I8
    i8_2 = base2(3, 4) + OFF_I8
    i8_3 = base3(2, 3, 4) + OFF_I8
    call check_ok(npk_save_array(store, 'r4_1', r4_1), 'save r4_1')
    call check_ok(npk_save_array(store, 'r4_2', r4_2), 'save r4_2')
    call check_ok(npk_save_array(store, 'r4_3', r4_3), 'save r4_3')
    call check_ok(npk_save_array(store, 'r8_1', r8_1), 'save r8_1')
    call check_ok(npk_save_array(store, 'r8_2', r8_2), 'save r8_2')
    call check_ok(npk_save_array(store, 'r8_3', r8_3), 'save r8_3')
    call check_ok(npk_save_array(store, 'i4_1', i4_1), 'save i4_1')
    call check_ok(npk_save_array(store, 'i4_2', i4_2), 'save i4_2')
    call check_ok(npk_save_array(store, 'i4_3', i4_3), 'save i4_3')
    call check_ok(npk_save_array(store, 'i8_1', i8_1), 'save i8_1')
    call check_ok(npk_save_array(store, 'i8_2', i8_2), 'save i8_2')
    call check_ok(npk_save_array(store, 'i8_3', i8_3), 'save i8_3')
    ! the other kinds, a scalar, an empty array and a strided section
    i1_2 = int(base2(3, 4), c_int8_t)
    i2_2 = int(100 * base2(3, 4), c_int16_t)
    c8_2 = cmplx(base2(3, 4), -base2(3, 4), c_double_complex)
    c4_1 = cmplx(base1(5), 0.5_c_float, c_float_complex)
    do j = 1, 4
      do i = 1, 3
        lb_2(i, j) = logical(mod(i + j, 2) == 0, c_bool)   ! 0-based (i-1)+(j-1) even
      end do
    end do
    r8_0 = 3.5_c_double
    call check_ok(npk_save_array(store, 'i1_2', i1_2), 'save int8')
    call check_ok(npk_save_array(store, 'i2_2', i2_2), 'save int16')
    call check_ok(npk_save_array(store, 'c8_2', c8_2), 'save complex128')
    call check_ok(npk_save_array(store, 'c4_1', c4_1), 'save complex64')
    call check_ok(npk_save_array(store, 'lb_2', lb_2), 'save bool')
    call check_ok(npk_save_array(store, 'r8_0', r8_0), 'save a scalar (0-d)')
    call check_ok(npk_save_array(store, 'r8_empty', r8_empty), 'save a (0,3) array')
    call check_ok(npk_save_array(store, 'r8_sec', r8_2(1:3:2, 2:4)), 'save a strided section')

    ! --- names and info ------------------------------------------------------------------------
    call check_ok(npk_has_array(store, 'r4_2', exists), 'has r4_2')
    call check(exists, 'r4_2 exists')
    call check_ok(npk_has_array(store, 'nope', exists), 'has nope')
    call check(.not. exists, 'nope does not exist')
    call check_ok(npk_list_names(store, list), 'list names')
    call check(size(list%names) == 20, 'list: 20 names, got ' // itoa(int(size(list%names), c_int64_t)))
    if (size(list%names) == 20) then
      call check(list%names(1) == 'c4_1' .and. list%names(2) == 'c8_2' &
        .and. list%names(20) == 'r8_sec' .and. len(list%names) == 8, &
        'list: sorted, padded to the longest name')
    end if
    call check_ok(npk_list(store, c_null_ptr, 0_c_int64_t, needed, count), 'raw npk_list sizes')
    call check(count == 20 .and. needed > 20, 'raw npk_list count')
    call check_ok(npk_get_info(store, 'r8_3', info), 'info r8_3')
    call check(info%dtype == NPK_FLOAT64 .and. info%ndim == 3 .and. info%shape(1) == 2 &
      .and. info%shape(2) == 3 .and. info%shape(3) == 4 .and. info%nbytes == 192 &
      .and. info%physical_rows == 2 .and. info%modify_time_us > 0, &
      'info r8_3: float64, shape (2,3,4) as in Fortran')

    ! --- read back into Fortran arrays ---------------------------------------------------------
    call check_ok(npk_load_array(store, 'r4_1', g_r4_1), 'load r4_1')
    call check_ok(npk_load_array(store, 'r4_2', g_r4_2), 'load r4_2')
    call check_ok(npk_load_array(store, 'r4_3', g_r4_3), 'load r4_3')
    call check_ok(npk_load_array(store, 'r8_1', g_r8_1), 'load r8_1')
    call check_ok(npk_load_array(store, 'r8_2', g_r8_2), 'load r8_2')
    call check_ok(npk_load_array(store, 'r8_3', g_r8_3), 'load r8_3')
    call check_ok(npk_load_array(store, 'i4_1', g_i4_1), 'load i4_1')
    call check_ok(npk_load_array(store, 'i4_2', g_i4_2), 'load i4_2')
    call check_ok(npk_load_array(store, 'i4_3', g_i4_3), 'load i4_3')
    call check_ok(npk_load_array(store, 'i8_1', g_i8_1), 'load i8_1')
    call check_ok(npk_load_array(store, 'i8_2', g_i8_2), 'load i8_2')
    call check_ok(npk_load_array(store, 'i8_3', g_i8_3), 'load i8_3')
    call check_ok(npk_load_array(store, 'r8_0', g_r8_0), 'load the scalar')
    call check(all(abs(g_r4_1 - r4_1) <= 0) .and. all(abs(g_r4_2 - r4_2) <= 0) &
      .and. all(abs(g_r4_3 - r4_3) <= 0), 'real(4) arrays round-trip')
    call check(all(abs(g_r8_1 - r8_1) <= 0) .and. all(abs(g_r8_2 - r8_2) <= 0) &
      .and. all(abs(g_r8_3 - r8_3) <= 0), 'real(8) arrays round-trip')
    call check(all(g_i4_1 == i4_1) .and. all(g_i4_2 == i4_2) .and. all(g_i4_3 == i4_3), &
      'integer(4) arrays round-trip')
    call check(all(g_i8_1 == i8_1) .and. all(g_i8_2 == i8_2) .and. all(g_i8_3 == i8_3), &
      'integer(8) arrays round-trip')
    call check(abs(g_r8_0 - 3.5_c_double) <= 0, 'scalar round-trips')

    call check_ok(npk_load_alloc(store, 'r4_1', a_r4_1), 'load_alloc r4_1')
    call check_ok(npk_load_alloc(store, 'r4_2', a_r4_2), 'load_alloc r4_2')
    call check_ok(npk_load_alloc(store, 'r4_3', a_r4_3), 'load_alloc r4_3')
    call check_ok(npk_load_alloc(store, 'r8_1', a_r8_1), 'load_alloc r8_1')
    call check_ok(npk_load_alloc(store, 'r8_2', a_r8_2), 'load_alloc r8_2')
    call check_ok(npk_load_alloc(store, 'r8_3', a_r8_3), 'load_alloc r8_3')
    call check_ok(npk_load_alloc(store, 'i4_1', a_i4_1), 'load_alloc i4_1')
    call check_ok(npk_load_alloc(store, 'i4_2', a_i4_2), 'load_alloc i4_2')
    call check_ok(npk_load_alloc(store, 'i4_3', a_i4_3), 'load_alloc i4_3')
    call check_ok(npk_load_alloc(store, 'i8_1', a_i8_1), 'load_alloc i8_1')
    call check_ok(npk_load_alloc(store, 'i8_2', a_i8_2), 'load_alloc i8_2')
    call check_ok(npk_load_alloc(store, 'i8_3', a_i8_3), 'load_alloc i8_3')
    if (allocated(a_r4_3) .and. allocated(a_r8_3) .and. allocated(a_i4_3) .and. allocated(a_i8_3)) then
      call check(all(shape(a_r4_3) == [2, 3, 4]) .and. all(shape(a_i8_3) == [2, 3, 4]), &
        'load_alloc: rank-3 shapes are the Fortran shapes')
      call check(all(abs(a_r4_1 - r4_1) <= 0) .and. all(abs(a_r4_2 - r4_2) <= 0) &
        .and. all(abs(a_r4_3 - r4_3) <= 0) .and. all(abs(a_r8_1 - r8_1) <= 0) &
        .and. all(abs(a_r8_2 - r8_2) <= 0) .and. all(abs(a_r8_3 - r8_3) <= 0), &
        'load_alloc: real arrays equal')
      call check(all(a_i4_1 == i4_1) .and. all(a_i4_2 == i4_2) .and. all(a_i4_3 == i4_3) &
        .and. all(a_i8_1 == i8_1) .and. all(a_i8_2 == i8_2) .and. all(a_i8_3 == i8_3), &
        'load_alloc: integer arrays equal')
    end if
    call check_ok(npk_load_alloc(store, 'i1_2', a_i1_2), 'load_alloc int8')
    call check_ok(npk_load_alloc(store, 'i2_2', a_i2_2), 'load_alloc int16')
    call check_ok(npk_load_alloc(store, 'c8_2', a_c8_2), 'load_alloc complex128')
    call check_ok(npk_load_alloc(store, 'c4_1', a_c4_1), 'load_alloc complex64')
    call check_ok(npk_load_alloc(store, 'lb_2', a_lb_2), 'load_alloc bool')
    call check_ok(npk_load_alloc(store, 'r8_empty', a_empty), 'load_alloc (0,3)')
    call check_ok(npk_load_alloc(store, 'r8_sec', a_sec), 'load_alloc section')
    if (allocated(a_i1_2) .and. allocated(a_i2_2) .and. allocated(a_c8_2) .and. allocated(a_c4_1) &
        .and. allocated(a_lb_2) .and. allocated(a_empty) .and. allocated(a_sec)) then
      call check(all(a_i1_2 == i1_2) .and. all(a_i2_2 == i2_2), 'int8/int16 round-trip')
      call check(all(abs(a_c8_2 - c8_2) <= 0) .and. all(abs(a_c4_1 - c4_1) <= 0), &
        'complex round-trips')
      call check(logical(all(a_lb_2 .eqv. lb_2)), 'bool round-trips')
      call check(all(shape(a_empty) == [0, 3]), 'the (0,3) array keeps its shape')
      call check(all(shape(a_sec) == [2, 3]), 'section shape (2,3)')
      if (all(shape(a_sec) == [2, 3])) then
        call check(all(abs(a_sec - r8_2(1:3:2, 2:4)) <= 0), 'section values')
      end if
    end if
    ! a section as the destination of a load
    g_r8_2 = 0
    call check_ok(npk_load_array(store, 'r8_sec', g_r8_2(1:3:2, 2:4)), 'load into a section')
    call check(all(abs(g_r8_2(1:3:2, 2:4) - r8_2(1:3:2, 2:4)) <= 0) &
      .and. all(abs(g_r8_2(2, :)) <= 0) .and. all(abs(g_r8_2(:, 1)) <= 0), &
      'load into a section fills exactly the section')

    ! --- read-only views: reversed shape, v(j,i) == arr[i-1,j-1] == A(i,j) ------------------
    call check_ok(npk_open_view(store, 'r4_2', view), 'view_open r4_2')
    call check(view%writable == 0 .and. view%ndim == 2 .and. view%shape(1) == 3 &
      .and. view%shape(2) == 4 .and. view%itemsize == 4 .and. view%strides(1) == 16 &
      .and. view%strides(2) == 4, 'read-only view: C-order shape (3,4), strides (16,4)')
    call check_ok(npk_view_array(view, p_r4_2), 'view_array real(4) rank 2')
    if (associated(p_r4_2)) then
      call check(all(shape(p_r4_2) == [4, 3]), 'view pointer has the reversed shape (4,3)')
      ok = .true.
      do j = 1, 4
        do i = 1, 3
          ok = ok .and. abs(p_r4_2(j, i) - r4_2(i, j)) <= 0
        end do
      end do
      call check(ok, 'view: p(j,i) == A(i,j)')
      call check(all(abs(transpose(p_r4_2) - r4_2) <= 0), 'view: transpose(p) == A')
    end if
    ! wrong type and rank are refused by the binding with its own message
    call check_st(npk_view_array(view, p_r8_2), NPK_DTYPE_MISMATCH, 'view as real(8)')
    call check(.not. associated(p_r8_2), 'refused view pointer is nullified')
    msg = npk_error_message()
    call check(contains_text(msg, 'float32') .and. contains_text(msg, 'float64'), &
      'dtype mismatch message names both dtypes: ' // msg)
    call check_st(npk_view_array(view, p_bad), NPK_OK, 'the same view as real(4) again')
    call check_st(npk_load_array(store, 'another_missing', g_r8_1), NPK_NOT_FOUND, &
      'library failure after a binding failure')
    call check(contains_text(npk_error_message(), 'another_missing'), &
      'npk_error_message is the latest (library) failure: ' // npk_error_message())
    call check_ok(npk_view_release(view), 'view_release')
    call check(.not. c_associated(view%data) .and. view%ndim == 0, 'release zeroes the view')
    call check(view%struct_size == lay(1), 'release keeps struct_size, so the view can be reopened')
    call check_ok(npk_view_release(view), 'releasing a zeroed view is a no-op')

    call check_ok(npk_open_view(store, 'r8_2', view), 'view_open r8_2')
    call check_st(npk_view_array(view, p_r8_1), NPK_SHAPE_MISMATCH, 'rank-2 view as rank 1')
    call check(contains_text(npk_error_message(), 'rank 2'), 'rank mismatch message')
    call check_ok(npk_view_release(view), 'view_release r8_2')

    call check_ok(npk_open_view(store, 'i8_3', view), 'view_open i8_3')
    call check_ok(npk_view_array(view, p_i8_3), 'view_array integer(8) rank 3')
    if (associated(p_i8_3)) then
      call check(all(shape(p_i8_3) == [4, 3, 2]), 'rank-3 view shape (4,3,2)')
      ok = .true.
      do k = 1, 4
        do j = 1, 3
          do i = 1, 2
            ok = ok .and. p_i8_3(k, j, i) == i8_3(i, j, k)
          end do
        end do
      end do
      call check(ok, 'rank-3 view: p(k,j,i) == A(i,j,k)')
    end if
    call check_ok(npk_view_release(view), 'view_release i8_3')

    call check_ok(npk_open_view(store, 'r8_empty', view), 'view_open (0,3)')
    call check_ok(npk_view_array(view, p_empty), 'view_array of a zero-size array')
    if (associated(p_empty)) call check(all(shape(p_empty) == [3, 0]), 'empty view shape (3,0)')
    call check_ok(npk_view_release(view), 'view_release (0,3)')
    call check_st(npk_view_array(view, p_empty), NPK_INVALID_ARGUMENT, 'view_array of a released view')

    ! --- error statuses --------------------------------------------------------------------------
    call check_st(npk_load_array(store, 'no_such_array', g_r8_2), NPK_NOT_FOUND, 'load missing')
    call check(contains_text(npk_error_message(), 'no_such_array'), &
      'NOT_FOUND message names the array: ' // npk_error_message())
    call check_st(npk_load_alloc(store, 'no_such_array', a_r8_2), NPK_NOT_FOUND, &
      'load_alloc missing')
    call check_st(npk_load_array(store, 'r8_2', wrong_r4), NPK_DTYPE_MISMATCH, &
      'load float64 into real(4)')
    call check(len(npk_error_message()) > 0, 'dtype mismatch has a message')
    call check_st(npk_load_array(store, 'r8_2', wrong_shape), NPK_SHAPE_MISMATCH, &
      'load (3,4) into (4,3)')
    call check_st(npk_load_alloc(store, 'r8_2', bad_r4), NPK_DTYPE_MISMATCH, &
      'load_alloc float64 into real(4)')
    call check(contains_text(npk_error_message(), 'float64'), 'load_alloc dtype message')
    call check(.not. allocated(bad_r4), 'load_alloc leaves the allocatable alone on failure')
    call check_st(npk_load_alloc(store, 'r8_2', bad_rank), NPK_SHAPE_MISMATCH, &
      'load_alloc rank 2 into rank 3')
    call check_st(npk_save_array(store, '', r8_1), NPK_INVALID_ARGUMENT, 'empty name')
    call check_st(npk_open_store(path // '/no/such/dir', 0_c_int32_t, other), NPK_NOT_FOUND, &
      'open a missing store without NPK_OPEN_CREATE')
    call check(.not. c_associated(other), 'failed open leaves a null handle')
    call check_st(npk_open_store(path, NPK_OPEN_CREATE, other), NPK_LOCKED, &
      'second writer on the same store')
    call check_ok(npk_open_store(path, NPK_OPEN_READ_ONLY, reader), 'read-only handle')
    call check_st(npk_save_array(reader, 'x', r8_1), NPK_READ_ONLY, 'save on a read-only handle')
    call check_ok(npk_load_array(reader, 'r8_1', g_r8_1), 'load on a read-only handle')
    call check_ok(npk_close_store(reader), 'close the reader')
    call check(.not. c_associated(reader), 'close nulls the handle')
    call check_ok(npk_writable_batch_begin(store, batch), 'writable batch')
    call check_st(npk_batch_begin(store, 0_c_int64_t, other), NPK_BUSY, 'second batch')
    call check_st(npk_save_array(store, 'x', r8_1), NPK_BUSY, 'plain save during a batch')
    call check_st(npk_batch_load_view(batch, 'no_such_array', view), NPK_NOT_FOUND, &
      'batch_load of a missing array')
    call check_ok(npk_batch_abort(batch), 'abort the batch')

    ! --- append, drop, raw row calls, clone, compact -------------------------------------------
    do j = 1, 3
      do i = 1, 2
        app(i, j) = 10 * i + j
      end do
      app_row(1, j) = 30 + j
    end do
    call check_ok(npk_save_array(store, 'app', app), 'save app (2,3)')
    call check_ok(npk_append_array(store, 'app', app_row), 'append one row')
    call check_st(npk_append_array(store, 'app', app), NPK_OK, 'append two more rows')
    call check_ok(npk_load_alloc(store, 'app', a_app), 'load app')
    if (allocated(a_app)) then
      call check(all(shape(a_app) == [5, 3]), 'appended along the first Fortran index')
      if (all(shape(a_app) == [5, 3])) then
        call check(all(a_app(1:2, :) == app) .and. all(a_app(3, :) == app_row(1, :)) &
          .and. all(a_app(4:5, :) == app), 'appended rows in order')
      end if
    end if
    call check_ok(npk_drop_rows(store, npk_cstr('app'), [-1_c_int64_t, -2_c_int64_t], 2_c_int64_t), &
      'drop the last two rows of app (raw)')
    call check_ok(npk_compact(store), 'compact everything (absent name = NULL)')
    call check_st(npk_append_array(store, 'nope', app), NPK_NOT_FOUND, 'append to a missing array')
    call check_st(npk_append_array(store, 'app', r8_2), NPK_DTYPE_MISMATCH, 'append float64 to int32')

    call check_ok(npk_save_array(store, 'tmp_a', r8_1), 'save tmp_a')
    call check_ok(npk_save_array(store, 'tmp_b', r8_1), 'save tmp_b')
    drop_names = ['tmp_a', 'tmp_b']
    call check_ok(npk_drop_arrays(store, drop_names), 'drop tmp_a, tmp_b')
    call check_ok(npk_has_array(store, 'tmp_a', exists), 'has tmp_a')
    call check(.not. exists, 'tmp_a dropped')
    call check_st(npk_drop_arrays(store, ['tmp_a']), NPK_NOT_FOUND, 'drop a missing array')

    ! raw npk_get_rows with column-major strides: rows [2, 0] of (3,4) into rows(2,4)
    rows_idx = [2_c_int64_t, 0_c_int64_t]
    call check_ok(npk_get_rows(store, npk_cstr('r8_2'), rows_idx, 2_c_int64_t, NPK_FLOAT64, 2, &
      [2_c_int64_t, 4_c_int64_t], c_loc(rows), npk_column_major_strides([2_c_int64_t, 4_c_int64_t], 8_c_int64_t)), &
      'raw get_rows')
    call check(all(abs(rows(1, :) - r8_2(3, :)) <= 0) .and. all(abs(rows(2, :) - r8_2(1, :)) <= 0), &
      'get_rows: row index 2 is A(3,:)')
    call check_ok(npk_clone(store, npk_cstr('r8_2'), npk_cstr('r8_2_copy')), 'clone')
    call check_st(npk_clone(store, npk_cstr('r8_2'), npk_cstr('r8_2_copy')), NPK_ALREADY_EXISTS, &
      'clone onto an existing name')
    row_new = -7
    call check_ok(npk_replace_rows(store, npk_cstr('r8_2_copy'), [-1_c_int64_t], 1_c_int64_t, &
      NPK_FLOAT64, 2, [1_c_int64_t, 4_c_int64_t], c_loc(row_new)), 'raw replace_rows (C-order strides absent)')
    call check_ok(npk_load_array(store, 'r8_2_copy', g_r8_2), 'load the clone')
    call check(all(abs(g_r8_2(1:2, :) - r8_2(1:2, :)) <= 0) .and. all(abs(g_r8_2(3, :) + 7) <= 0), &
      'replace_rows(-1) replaced A(3,:)')
    call check_ok(npk_drop_arrays(store, ['r8_2_copy']), 'drop the clone')
    call check_ok(npk_refresh(store), 'refresh')
    call blocks(store)
    call attributes(store)

    call check_ok(npk_close_store(store), 'close')
    call check_ok(npk_close_store(store), 'closing a null handle is fine')
    call shared_writers(path)

  contains
    integer(c_int64_t) function off(p)
      type(c_ptr), intent(in) :: p
      off = transfer(p, 0_c_intptr_t) - transfer(c_loc(view), 0_c_intptr_t)
    end function off
    integer(c_int64_t) function offi(p)
      type(c_ptr), intent(in) :: p
      offi = transfer(p, 0_c_intptr_t) - transfer(c_loc(info), 0_c_intptr_t)
    end function offi
  end subroutine phase_write

  ! ------------------------------------------------------------------------------------------
  ! Attributes through the generic set/get interfaces; check.py reads them with Python's json.
  subroutine attributes(store)
    type(c_ptr), intent(in) :: store
    type(c_ptr) :: batch
    integer(c_int64_t) :: i8
    real(c_double) :: r8
    character(len=:), allocatable :: text
    integer(c_int64_t), allocatable :: vi(:)
    real(c_double), allocatable :: vr(:)
    integer(c_int32_t) :: t
    integer(c_int64_t) :: n
    type(npk_name_list) :: keys
    call check_ok(npk_set_attr(store, 'step', 100), 'set a default integer')
    call check_ok(npk_set_attr(store, 'dt', 0.5_c_double), 'set a real(8)')
    call check_ok(npk_set_attr(store, 'code', 'fortran run'), 'set a string')
    call check_ok(npk_set_attr(store, 'grid', [4_c_int64_t, 3_c_int64_t]), 'set an int64 vector')
    call check_ok(npk_set_attr(store, 'weights', [0.25_c_float, 0.75_c_float]), 'set a real(4) vector')
    call check_ok(npk_set_attr(store, 'units', 'K', array='r8_2'), 'set on an array')
    call check_st(npk_set_attr(store, 'units', 'K', array='no_such'), NPK_NOT_FOUND, 'set on a missing array')
    call check_ok(npk_get_attr(store, 'step', i8), 'get an int64')
    call check(i8 == 100, 'step is 100')
    call check_ok(npk_get_attr(store, 'dt', r8), 'get a real(8)')
    call check(abs(r8 - 0.5) <= 0, 'dt is 0.5')
    call check_ok(npk_get_attr(store, 'code', text), 'get a string')
    call check(text == 'fortran run', 'code is "fortran run"')
    call check_ok(npk_get_attr(store, 'grid', vi), 'get an int64 vector')
    call check(size(vi) == 2, 'grid has 2 elements')
    if (size(vi) == 2) call check(vi(1) == 4 .and. vi(2) == 3, 'grid is [4, 3]')
    call check_ok(npk_get_attr(store, 'weights', vr), 'get a real(8) vector')
    call check(size(vr) == 2, 'weights has 2 elements')
    call check_ok(npk_get_attr(store, 'units', text, array='r8_2'), 'get from an array')
    call check(text == 'K', 'units of r8_2 is K')
    call check_st(npk_get_attr(store, 'step', r8), NPK_DTYPE_MISMATCH, 'an int64 read as real')
    call check_st(npk_get_attr(store, 'nope', i8), NPK_NOT_FOUND, 'a missing key')
    call check_ok(npk_attr_info(store, 'code', t, n), 'attr_info')
    call check(t == NPK_ATTR_STRING .and. n == 11, 'code is a string of 11 bytes')
    call check_ok(npk_attr_names(store, keys), 'attr_names')
    call check(size(keys%names) == 5, 'five store attributes')
    if (size(keys%names) == 5) call check(keys%names(1) == 'code' .and. keys%names(5) == 'weights', &
      'attribute keys sorted')
    call check_ok(npk_set_attr(store, 'tmp', 1), 'set tmp')
    call check_ok(npk_delete_attr(store, 'tmp'), 'delete tmp')
    call check_st(npk_delete_attr(store, 'tmp'), NPK_NOT_FOUND, 'delete tmp again')
    ! In a cache batch: committed at its end.
    call check_ok(npk_batch_begin(store, 0_c_int64_t, batch), 'batch for attributes')
    call check_ok(npk_batch_set_attr(batch, 'stage', 'batch'), 'batch set')
    call check_ok(npk_batch_set_attr(batch, 'iter', 7, array='r8_2'), 'batch set on an array')
    call check_st(npk_get_attr(store, 'stage', text), NPK_NOT_FOUND, 'not before the end')
    call check_ok(npk_batch_end(batch), 'batch end')
    call check_ok(npk_get_attr(store, 'stage', text), 'after the end')
    call check(text == 'batch', 'stage is batch')
    call check_ok(npk_get_attr(store, 'iter', i8, array='r8_2'), 'iter after the end')
    call check(i8 == 7, 'iter is 7')
  end subroutine attributes

  subroutine phase_update(path)
    character(*), intent(in) :: path
    type(c_ptr) :: store, batch
    type(npk_view) :: view, view2
    real(c_double), pointer :: v(:, :) => null(), v_again(:, :) => null()
    integer(c_int32_t), pointer :: q(:, :, :) => null()
    real(c_float), pointer :: w(:, :) => null()
    integer(c_int64_t), pointer :: u(:) => null()
    real(c_double) :: back(3, 4), want(3, 4), new_r8(2, 5), wrong(2, 2)
    real(c_float) :: back4(3, 4)
    integer(c_int64_t) :: back8(5)
    integer(c_int32_t), allocatable :: i4_1(:), drp_back(:, :)
    integer(c_int32_t) :: drp(4, 3)
    integer(c_int32_t), pointer :: dv(:, :) => null()
    logical :: exists
    integer :: i, j

    call check_ok(npk_open_store(path, 0_c_int32_t, store), 'reopen ' // path)
    if (.not. c_associated(store)) return

    ! --- writable batch: in-place through the reversed pointer ----------------------------------
    call check_ok(npk_writable_batch_begin(store, batch), 'writable batch begin')
    call check_ok(npk_batch_load_view(batch, 'r8_2', view), 'batch_load r8_2')
    call check(view%writable == 1, 'batch view is writable')
    call check_ok(npk_view_array(view, v), 'view_array on the writable view')
    if (associated(v)) then
      call check(all(shape(v) == [4, 3]), 'writable view shape (4,3)')
      v = 2 * v                 ! every element
      v(2, 3) = -1              ! v(j+1,i+1) == arr[i,j]: this is arr[2,1], Fortran A(3,2)
    end if
    call check_ok(npk_batch_load_view(batch, 'r8_2', view2), 'batch_load r8_2 again')
    call check(c_associated(view2%data, view%data), 'second load: same pointer')
    call check_ok(npk_view_array(view2, v_again), 'view_array again')
    if (associated(v_again)) call check(abs(v_again(2, 3) + 1) <= 0, 'second view sees the write')
    call check_ok(npk_batch_load_view(batch, 'i4_3', view), 'batch_load i4_3')
    call check_ok(npk_view_array(view, q), 'view_array integer(4) rank 3')
    if (associated(q)) then
      call check(all(shape(q) == [4, 3, 2]), 'shape (4,3,2)')
      q(4, 1, 2) = -5           ! arr[1,0,3], Fortran A(2,1,4)
    end if
    wrong = 0
    call check_st(npk_batch_save_array(batch, 'r8_2', wrong), NPK_SHAPE_MISMATCH, &
      'writable batch refuses a new shape')
    call check_st(npk_batch_save_view(batch, 'r8_2', view2), NPK_OK, &
      'writable batch: saving the view itself is a no-op')
    call check_st(npk_save_array(store, 'r8_2', back), NPK_BUSY, 'plain save during the batch')
    call check_ok(npk_batch_end(batch), 'writable batch end')
    call check_ok(npk_load_array(store, 'r8_2', back), 'reload r8_2')
    do j = 1, 4
      do i = 1, 3
        want(i, j) = 2 * (10 * i + j + 0.125_c_double)
      end do
    end do
    want(3, 2) = -1
    call check(all(abs(back - want) <= 0), 'writable batch: doubled, and A(3,2) == -1')

    ! --- cache batch: load, change, save the view; an unsaved change is not written --------------
    call check_ok(npk_batch_begin(store, 0_c_int64_t, batch), 'cache batch begin')
    call check_ok(npk_batch_load_view(batch, 'r4_2', view), 'cache batch_load r4_2')
    call check(view%writable == 1, 'cache view is writable')
    call check_ok(npk_view_array(view, w), 'view_array on the cache view')
    if (associated(w)) w = -w
    call check_ok(npk_batch_save_view(batch, 'r4_2', view), 'batch_save_view r4_2 (no copy)')
    call check_ok(npk_batch_load_view(batch, 'i8_1', view2), 'cache batch_load i8_1')
    call check_ok(npk_view_array(view2, u), 'view_array integer(8) rank 1')
    if (associated(u)) u(1) = 0  ! never saved: must not reach the store
    do j = 1, 5
      do i = 1, 2
        new_r8(i, j) = 10 * i + j
      end do
    end do
    call check_ok(npk_batch_save_array(batch, 'new_r8', new_r8), 'batch_save a Fortran array')
    call check_ok(npk_batch_save_array(batch, 'i4_1', [(int(i, c_int32_t), i = 1, 7)]), &
      'batch_save a longer i4_1')
    call check_ok(npk_load_array(store, 'r4_2', back4), 'plain load during the cache batch')
    call check(all(back4 > 0), 'plain reads see the committed state during the batch')
    call check_ok(npk_batch_end(batch), 'cache batch end')
    call check_ok(npk_load_array(store, 'r4_2', back4), 'reload r4_2')
    do j = 1, 4
      do i = 1, 3
        call check(abs(back4(i, j) + (10 * i + j + 0.25_c_float)) <= 0, 'r4_2 negated')
      end do
    end do
    call check_ok(npk_load_array(store, 'i8_1', back8), 'reload i8_1')
    call check(back8(1) == 1 + OFF_I8, 'a view change never saved is not committed')
    call check_ok(npk_load_array(store, 'new_r8', new_r8), 'load new_r8')
    call check_ok(npk_load_alloc(store, 'i4_1', i4_1), 'load i4_1')
    if (allocated(i4_1)) call check(size(i4_1) == 7, 'i4_1 grew to 7')

    ! --- a writable batch on an array with dropped rows compacts it first -----------------------
    do j = 1, 3
      do i = 1, 4
        drp(i, j) = 10 * i + j
      end do
    end do
    call check_ok(npk_save_array(store, 'drp', drp), 'save drp (4,3)')
    call check_ok(npk_drop_rows(store, npk_cstr('drp'), [1_c_int64_t], 1_c_int64_t), &
      'drop row 1 (Fortran row 2) of drp')
    call check_ok(npk_writable_batch_begin(store, batch), 'writable batch on drp')
    call check_ok(npk_batch_load_view(batch, 'drp', view), 'batch_load drp')
    call check_ok(npk_view_array(view, dv), 'view_array drp')
    if (associated(dv)) then
      call check(all(shape(dv) == [3, 3]), 'the view has no dropped row: (3,3) reversed')
      if (all(shape(dv) == [3, 3])) then
        call check(all(transpose(dv) == drp([1, 3, 4], :)), 'view rows are Fortran rows 1, 3, 4')
      end if
      dv(:, 1) = 0                ! arr[0, :], Fortran row 1
    end if
    call check_ok(npk_batch_end(batch), 'end writable batch on drp')
    call check_ok(npk_load_alloc(store, 'drp', drp_back), 'load drp')
    if (allocated(drp_back)) then
      call check(all(shape(drp_back) == [3, 3]), 'drp is (3,3)')
      if (all(shape(drp_back) == [3, 3])) then
        call check(all(drp_back(1, :) == 0) .and. all(drp_back(2:3, :) == drp(3:4, :)), &
          'write through the view of a compacted array')
      end if
    end if

    ! --- a cache batch saving one array's view under another name copies it ---------------------
    call check_ok(npk_batch_begin(store, 0_c_int64_t, batch), 'cache batch begin (copy)')
    call check_ok(npk_batch_load_view(batch, 'r4_2', view), 'cache batch_load r4_2 (copy)')
    call check_ok(npk_batch_save_view(batch, 'r4_copy', view), 'batch_save_view under a new name')
    call check_ok(npk_batch_end(batch), 'cache batch end (copy)')
    call check_ok(npk_load_array(store, 'r4_copy', back4), 'load r4_copy')
    call check(all(back4 < 0), 'r4_copy holds r4_2 (negated above)')
    call check_ok(npk_drop_arrays(store, ['r4_copy', 'drp    ']), 'drop r4_copy and drp')

    ! --- an aborted cache batch leaves nothing ------------------------------------------------------
    call check_ok(npk_batch_begin(store, 0_c_int64_t, batch), 'cache batch begin (to abort)')
    call check_ok(npk_batch_save_array(batch, 'aborted', new_r8), 'batch_save aborted')
    call check_ok(npk_batch_abort(batch), 'batch abort')
    call check_ok(npk_has_array(store, 'aborted', exists), 'has aborted')
    call check(.not. exists, 'abort saved nothing')
    call check_ok(npk_batch_abort(c_null_ptr), 'abort(NULL) is fine')

    call check_ok(npk_close_store(store), 'close')
  end subroutine phase_update

  ! ------------------------------------------------------------------------------------------
  ! Sized arrays and blocks (npk_create_array, npk_read_block_array, npk_write_block_array):
  ! c_reader.c (check_blocks) and check.py read these arrays back in C order.
  subroutine blocks(store)
    type(c_ptr), intent(in) :: store
    real(c_double) :: f(7, 5), model(7, 5), g(7, 5), box(3, 2), col(7), two(2, 2), x
    real(c_float) :: r4(5, 3, 2), slab(1, 3, 2), wrong_r4(3, 2)
    integer(c_int32_t) :: i4(6)
    logical(c_bool) :: lb(2, 3)
    complex(c_double_complex) :: c8(2, 2)
    character(len=:), allocatable :: msg
    integer :: i, j, k
    do j = 1, 5
      do i = 1, 7
        f(i, j) = 10 * i + j + 0.5_c_double
      end do
    end do

    ! a field of 7 rows written by three "ranks" in slabs of rows (istart, iend: 1-based,
    ! inclusive), then a box at rows 2-4, columns 4-5 (istart only: the box is shape(a))
    call check_ok(npk_create_array(store, 'blk_r8', [7, 5], 0.0_c_double), 'create blk_r8')
    call check_ok(npk_load_array(store, 'blk_r8', g), 'load the new blk_r8')
    call check(all(abs(g) <= 0), 'a created array reads as zeros')
    call check_ok(npk_write_block_array(store, 'blk_r8', f(1:3, :), [1, 1], [3, 5]), 'slab rows 1-3')
    call check_ok(npk_write_block_array(store, 'blk_r8', f(4:5, :), [4, 1], [5, 5]), 'slab rows 4-5')
    call check_ok(npk_write_block_array(store, 'blk_r8', f(6:7, :), [6_c_int64_t, 1_c_int64_t], &
      [7_c_int64_t, 5_c_int64_t]), 'slab rows 6-7 (c_int64_t bounds)')
    call check_ok(npk_load_array(store, 'blk_r8', g), 'load blk_r8')
    call check(all(abs(g - f) <= 0), 'the slabs make the whole field')
    box = -f(2:4, 4:5)
    call check_ok(npk_write_block_array(store, 'blk_r8', box, [2, 4]), 'write the box at (2,4)')
    model = f
    model(2:4, 4:5) = box
    call check_ok(npk_load_array(store, 'blk_r8', g), 'load blk_r8 again')
    call check(all(abs(g - model) <= 0), 'the box landed at rows 2-4, columns 4-5')
    box = 0
    call check_ok(npk_read_block_array(store, 'blk_r8', box, [2, 4], [4, 5]), 'read the box back')
    call check(all(abs(box + f(2:4, 4:5)) <= 0), 'read box(i,j) == A(1+i, 3+j)')
    call check_ok(npk_read_block_array(store, 'blk_r8', col, [1, 3], [7, 3]), 'column 3 into rank 1')
    call check(all(abs(col - f(:, 3)) <= 0), 'column 3 read into a rank-1 array')
    two = 0
    call check_ok(npk_read_block_array(store, 'blk_r8', two, [6, 1]), 'read a 2x2 block (istart only)')
    call check(all(abs(two - f(6:7, 1:2)) <= 0), 'istart only: the block has shape(a)')
    g = 0
    call check_ok(npk_read_block_array(store, 'blk_r8', g(2:3, 2:4), [1, 1], [2, 3]), &
      'read into a section')
    call check(all(abs(g(2:3, 2:4) - f(1:2, 1:3)) <= 0) .and. all(abs(g(1, :)) <= 0) &
      .and. all(abs(g(4:, :)) <= 0), 'a block read into a section fills exactly the section')
    call check_ok(npk_read_block_array(store, 'blk_r8', g(1:0, :), [8, 1], [7, 5]), &
      'an empty block (iend = istart - 1) past the last row reads nothing')

    ! rank 3, split on the first index (NumPy's rows); row 5 never written stays zero
    call check_ok(npk_create_array(store, 'blk_r4', [5, 3, 2], 0.0_c_float), 'create blk_r4')
    do k = 1, 4
      do j = 1, 3
        do i = 1, 2
          slab(1, j, i) = real(100 * k + 10 * j + i, c_float)
        end do
      end do
      call check_ok(npk_write_block_array(store, 'blk_r4', slab, [k, 1, 1]), 'slab of blk_r4')
    end do
    call check_ok(npk_load_array(store, 'blk_r4', r4), 'load blk_r4')
    call check(abs(r4(3, 2, 1) - 321) <= 0 .and. abs(r4(4, 3, 2) - 432) <= 0 &
      .and. all(abs(r4(5, :, :)) <= 0), 'rank-3 slabs at their rows, row 5 zero')

    ! fill values and other types
    call check_ok(npk_create_array(store, 'blk_i4', [6_c_int64_t], -3_c_int32_t), 'create blk_i4 (fill -3)')
    call check_ok(npk_write_block_array(store, 'blk_i4', [7_c_int32_t, 8_c_int32_t], [2]), 'write blk_i4(2:3)')
    call check_ok(npk_load_array(store, 'blk_i4', i4), 'load blk_i4')
    call check(all(i4 == [-3, 7, 8, -3, -3, -3]), 'blk_i4: fill and block')
    call check_ok(npk_create_array(store, 'blk_lb', [2, 3], .true._c_bool), 'create blk_lb (fill true)')
    call check_ok(npk_write_block_array(store, 'blk_lb', [.false._c_bool, .false._c_bool], [2, 2], [2, 3]), &
      'write blk_lb(2,2:3) from a rank-1 array')
    call check_ok(npk_load_array(store, 'blk_lb', lb), 'load blk_lb')
    call check(logical(all(lb(1, :))) .and. logical(lb(2, 1)) .and. .not. logical(any(lb(2, 2:3))), &
      'blk_lb: fill and block')
    call check_ok(npk_create_array(store, 'blk_c8', [2, 2], (1.0_c_double, -1.0_c_double)), 'create blk_c8')
    call check_ok(npk_write_block_array(store, 'blk_c8', (5.0_c_double, 6.0_c_double), [1, 2], [1, 2]), &
      'write one element from a scalar')
    call check_ok(npk_read_block_array(store, 'blk_c8', c8, [1, 1]), 'read blk_c8')
    call check(abs(c8(1, 2) - (5.0_c_double, 6.0_c_double)) <= 0 .and. abs(c8(2, 2) - (1.0_c_double, &
      -1.0_c_double)) <= 0, 'blk_c8: element (1,2) written, the rest the fill')
    call check_ok(npk_create_array(store, 'blk_0d', [integer ::], 2.5_c_double), 'create a scalar')
    call check_ok(npk_read_block_array(store, 'blk_0d', x, [integer ::]), 'read the scalar')
    call check(abs(x - 2.5_c_double) <= 0, 'the scalar reads as its fill')
    call check_ok(npk_write_block_array(store, 'blk_0d', 4.5_c_double, [integer ::]), 'write the scalar')
    call check_ok(npk_load_array(store, 'blk_0d', x), 'load the scalar')
    call check(abs(x - 4.5_c_double) <= 0, 'the scalar was written')

    ! refused calls: the status, a message that says what is wrong, and nothing written
    call check_st(npk_create_array(store, 'blk_r8', [2], 0.0_c_double), NPK_ALREADY_EXISTS, 'create twice')
    call check_st(npk_read_block_array(store, 'blk_r8', box, [0, 4], [2, 5]), NPK_INVALID_ARGUMENT, 'istart 0')
    msg = npk_error_message()
    call check(contains_text(msg, 'dimension 1: istart 0 is below 1'), 'istart 0 message: ' // msg)
    call check_st(npk_write_block_array(store, 'blk_r8', box, [6, 4], [8, 5]), NPK_INVALID_ARGUMENT, &
      'iend past the last row')
    msg = npk_error_message()
    call check(contains_text(msg, 'dimension 0: offset 5 + count 3 exceeds 7'), &
      'the library names the (0-based) dimension: ' // msg)
    call check_st(npk_write_block_array(store, 'blk_r8', box, [1, 5]), NPK_INVALID_ARGUMENT, &
      'a box of shape(a) past the last column')
    call check_st(npk_read_block_array(store, 'blk_r8', box, [2, 4], [4, 4]), NPK_SHAPE_MISMATCH, &
      'a of another shape than istart..iend')
    msg = npk_error_message()
    call check(contains_text(msg, '(3,2)') .and. contains_text(msg, '(3,1)'), 'shape message: ' // msg)
    call check_st(npk_read_block_array(store, 'blk_r8', col, [1, 1], [7, 2]), NPK_SHAPE_MISMATCH, &
      'a rank-1 array of the wrong size')
    call check_st(npk_read_block_array(store, 'blk_r8', col, [1], [7]), NPK_INVALID_ARGUMENT, &
      'a rank-1 block of a rank-2 array')
    call check(contains_text(npk_error_message(), 'rank 2'), 'rank message: ' // npk_error_message())
    call check_st(npk_read_block_array(store, 'blk_r8', box, [1, 1, 1]), NPK_INVALID_ARGUMENT, &
      'istart of 3 entries without iend for a rank-2 a')
    call check_st(npk_read_block_array(store, 'blk_r8', box, [1, 1], [3]), NPK_INVALID_ARGUMENT, &
      'iend shorter than istart')
    call check_st(npk_read_block_array(store, 'blk_r8', box, [1.0, 1.0]), NPK_INVALID_ARGUMENT, &
      'real bounds')
    call check(contains_text(npk_error_message(), 'istart: integers'), 'kind message: ' // npk_error_message())
    call check_st(npk_write_block_array(store, 'blk_r8', box, [3, 5], [1, 5]), NPK_INVALID_ARGUMENT, &
      'iend below istart - 1')
    call check_st(npk_read_block_array(store, 'blk_r8', wrong_r4, [1, 1]), NPK_DTYPE_MISMATCH, &
      'real(4) block of a float64 array')
    call check_st(npk_write_block_array(store, 'no_such', box, [1, 1]), NPK_NOT_FOUND, 'missing array')
    call check_ok(npk_load_array(store, 'blk_r8', g), 'load blk_r8 after the refused calls')
    call check(all(abs(g - model) <= 0), 'refused block writes changed nothing')
    ! for shared_writers: made here, by the structural writer
    call check_ok(npk_create_array(store, 'blk_sh', [4, 3], 0_c_int64_t), 'create blk_sh')
  end subroutine blocks

  ! Two in-place writers (NPK_OPEN_SHARED) at once, as two MPI ranks would be: each writes its
  ! rows of blk_sh (A(i,j) = 10i+j) by blocks; structural calls are NPK_WRONG_MODE and the
  ! structural writer is locked out meanwhile. c_reader.c and check.py read blk_sh back.
  subroutine shared_writers(path)
    character(*), intent(in) :: path
    type(c_ptr) :: r0, r1, writer
    integer(c_int64_t) :: a(4, 3), got(4, 3)
    integer :: i, j
    do j = 1, 3
      do i = 1, 4
        a(i, j) = 10 * i + j
      end do
    end do
    call check_ok(npk_open_store(path, NPK_OPEN_SHARED, r0), 'shared open, rank 0')
    call check_ok(npk_open_store(path, NPK_OPEN_SHARED, r1), 'shared open, rank 1')
    call check_ok(npk_write_block_array(r0, 'blk_sh', a(1:2, :), [1, 1], [2, 3]), 'rank 0 writes rows 1-2')
    call check_ok(npk_write_block_array(r1, 'blk_sh', a(3:4, :), [3, 1], [4, 3]), 'rank 1 writes rows 3-4')
    call check_ok(npk_read_block_array(r1, 'blk_sh', got, [1, 1]), 'rank 1 reads everything')
    call check(all(got == a), 'both ranks'' rows are there')
    call check_st(npk_create_array(r0, 'blk_new', [2], 0.0_c_double), NPK_WRONG_MODE, &
      'create on a shared handle')
    call check(contains_text(npk_error_message(), 'create'), 'WRONG_MODE names the call: ' &
      // npk_error_message())
    call check_st(npk_save_array(r1, 'blk_new', got), NPK_WRONG_MODE, 'save on a shared handle')
    call check_st(npk_open_store(path, 0_c_int32_t, writer), NPK_LOCKED, &
      'a structural open while in-place writers hold the store')
    call check_st(npk_open_store(path, ior(NPK_OPEN_SHARED, NPK_OPEN_READ_ONLY), writer), &
      NPK_INVALID_ARGUMENT, 'shared and read-only together')
    call check_ok(npk_close_store(r0), 'close rank 0')
    call check_ok(npk_close_store(r1), 'close rank 1')
    call check_ok(npk_open_store(path, 0_c_int32_t, writer), 'the structural writer gets in after them')
    call check_ok(npk_close_store(writer), 'close the structural writer')
  end subroutine shared_writers

  ! npk_check must stop the program with the status name and message (the Makefile checks).
  subroutine phase_abort_check(path)
    character(*), intent(in) :: path
    type(c_ptr) :: store
    real(c_double), allocatable :: a(:, :)
    call npk_check(npk_open_store(path, NPK_OPEN_READ_ONLY, store), 'open')
    call npk_check(npk_load_alloc(store, 'no_such_array', a), 'load no_such_array')
    write (*, '(a)') 'npk_check did not stop the program'
  end subroutine phase_abort_check

  pure function itoa(i) result(s)
    integer(c_int64_t), intent(in) :: i
    character(len=:), allocatable :: s
    character(len=24) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function itoa
end module ftest

program test_fortran
  use ftest
  implicit none
  character(len=4096) :: phase, path
  if (command_argument_count() /= 2) error stop 'usage: test_fortran write|update|abort-check STORE'
  call get_command_argument(1, phase)
  call get_command_argument(2, path)
  select case (trim(phase))
  case ('write')
    call phase_write(trim(path))
  case ('update')
    call phase_update(trim(path))
  case ('abort-check')
    call phase_abort_check(trim(path))
    stop
  case default
    error stop 'unknown phase'
  end select
  write (*, '(a, i0, a, i0, a)') 'fortran_' // trim(phase) // ': ', passed, ' passed, ', &
    failed, ' failed'
  if (failed /= 0) error stop 1
end program test_fortran

!> Fortran binding of libnumpack (include/numpack.h): NumPack's on-disk array store and batch
!> modes. Link with -lnumpack. Needs a Fortran 2018 compiler (assumed-rank and assumed-type
!> dummies, SELECT RANK; gfortran >= 10).
!>
!> Two layers:
!>
!> 1. Raw interfaces, one per C function, with the C name and the exact C types: handles are
!>    type(c_ptr) (by value; out-handles by reference), strings are character(kind=c_char)
!>    arrays that MUST end in c_null_char (use npk_cstr), data pointers are type(c_ptr) (c_loc),
!>    strides that C allows to be NULL are OPTIONAL (absent = NULL = C order). Statuses are
!>    integer(c_int32_t); the header's constants below have the same names and values.
!>
!>    Unsigned C types: Fortran has no unsigned integers. uint64_t (shapes, sizes, counts, times)
!>    is integer(c_int64_t) and uint32_t (ndim, flags, version number) is integer(c_int32_t):
!>    same size and bit pattern, so values below 2**63 (every real shape, size or time) read the
!>    same. NumPy's unsigned dtypes (NPK_UINT8 ... NPK_UINT64) have no Fortran kind: the typed
!>    routines below never map to them (integer(c_int8_t) is NPK_INT8, and so on); read them
!>    with the raw interfaces into a signed integer of the same size and reinterpret.
!>
!> 2. Fortran-friendly module procedures. Names are plain Fortran strings (trailing blanks are
!>    trimmed, the NUL is added for you); every function returns an integer(c_int32_t) status,
!>    NPK_OK = 0, and npk_check(status) stops the program with the message when it is not.
!>    Generic over real(c_float), real(c_double), integer(c_int8_t), integer(c_int16_t),
!>    integer(c_int32_t), integer(c_int64_t), complex(c_float_complex),
!>    complex(c_double_complex) and logical(c_bool) (NumPy float32, float64, int8, int16, int32,
!>    int64, complex64, complex128 and bool; with gfortran these are real(4), real(8),
!>    integer(1), integer(2), integer(4), integer(8), complex(4), complex(8), logical(1)).
!>
!> Index order (read this once):
!>
!> * Arrays you own (npk_save_array, npk_load_array, npk_load_alloc, npk_append_array,
!>   npk_batch_save_array): a Fortran array A(n1,n2,...) is stored as the NumPy array of shape
!>   (n1,n2,...) with A(i,j,...) == arr[i-1,j-1,...]. The binding passes the library the
!>   Fortran shape and column-major byte strides (itemsize, itemsize*n1, ...); the library
!>   transposes while copying, so the file is in C order like every NumPy file and Python, C and
!>   Julia see the same values at the same indices. Rows (NumPy's axis 0, what npk_append_array
!>   adds and npk_get_rows reads) are the FIRST Fortran index. Any rank works (0 to 15).
!>   Non-contiguous sections are accepted; the compiler copies them to a contiguous temporary
!>   first (and back, for loads), which gfortran's -fcheck=array-temps reports at run time.
!>
!> * Blocks (npk_read_block_array, npk_write_block_array; h5fortran's istart/iend): the block
!>   is given in the SAME Fortran view, 1-based and inclusive: istart(k)..iend(k) in dimension k
!>   of the array A(n1,n2,...) that npk_load_array would read. The binding passes the library
!>   offset = istart-1 and count = iend-istart+1 in the same dimension order (the Fortran view
!>   and the NumPy array have the same shape) with column-major byte strides of the count, so
!>   the user array a(1,1,...) is element (istart(1),istart(2),...) and a(i,j) is
!>   A(istart(1)+i-1, istart(2)+j-1) == arr[istart(1)+i-2, istart(2)+j-2]. Without iend the
!>   block is shape(a). The first index is NumPy's rows: a slab of rows is one contiguous range
!>   of the file (the library transposes while copying, as for npk_save_array). The binding's own checks name Fortran dimensions and bounds
!>   ("dimension 1: istart 0 is below 1"); the library's bound checks use NumPy's 0-based
!>   dimensions and offsets ("dimension 0: offset 5 + count 3 exceeds 7"). npk_create_array
!>   takes dims in the same order (dims = shape(A) of the array you will read back).
!>
!> * Views (npk_view_array on a view from npk_open_view or npk_batch_load_view): the memory is
!>   the library's, in C order, so it cannot be presented with the same index order without a
!>   copy. npk_view_array points a Fortran pointer at it with the REVERSED shape: the NumPy
!>   array of shape (d0,d1) becomes v(d1,d0) with v(j+1,i+1) == arr[i,j] (0-based i, j), and
!>   (d0,d1,d2) becomes v(d2,d1,d0) with v(k+1,j+1,i+1) == arr[i,j,k]. The pointer is
!>   contiguous, so whole-array operations (v = 2*v, sum(v)) need no index thought at all;
!>   transpose(v) of a rank-2 view is the NumPy array as a Fortran array (a copy). Pointer
!>   ranks 1 to 3. Never write through a read-only view (view%writable == 0): its memory is
!>   the library's read-only mapping (a write faults) or snapshot.
!>
!> The procedures of this layer:
!>   npk_open_store, npk_close_store           open / close a store (handle = type(c_ptr))
!>   npk_save_array, npk_load_array,           copy Fortran arrays in and out (generic)
!>   npk_load_alloc, npk_append_array
!>   npk_has_array, npk_get_info,              names and metadata
!>   npk_list_names (type npk_name_list), npk_drop_arrays
!>   npk_open_view (release: npk_view_release)  read-only view of the committed array
!>   npk_batch_load_view, npk_batch_save_view,  batches: begin with the raw npk_batch_begin
!>   npk_batch_save_array                       (cache) or npk_writable_batch_begin, finish
!>                                              with npk_batch_end or npk_batch_abort
!>   npk_view_array                             a Fortran pointer onto a view (generic)
!>   npk_create_array                           a sized array without data (generic on fill)
!>   npk_read_block_array, npk_write_block_array  blocks istart..iend (generic)
!>   npk_set_attr, npk_get_attr (generic),     attributes of the store or of an array (optional
!>   npk_delete_attr, npk_attr_names,           argument array=): set, get, delete, list, type
!>   npk_attr_info, npk_batch_set_attr,         and length; in a cache batch
!>   npk_batch_delete_attr
!>   npk_check, npk_error_message, npk_status_name, npk_dtype_name, npk_version_string,
!>   npk_cstr, npk_fstr, npk_column_major_strides
!> Row-index calls (npk_get_rows, npk_replace_rows, npk_drop_rows) are used raw: indices are
!> NumPy's (0-based, negative from the end) and rows are the first Fortran index; pass
!> npk_column_major_strides(shape, itemsize) as strides for a Fortran buffer.
!>
!> Errors: npk_error_message() is the message of the last failure on this thread, either the
!> library's (npk_last_error) or one of this module's own checks (a view or allocatable of the
!> wrong type or rank). The module's own message is kept in a module variable (not per thread).
module numpack
  use, intrinsic :: iso_c_binding
  use, intrinsic :: iso_fortran_env, only: error_unit
  implicit none
  private

  ! ---------------------------------------------------------------------------------------
  ! Constants (numpack.h)
  ! ---------------------------------------------------------------------------------------

  !> The largest rank an array may have (NumPy's classic limit).
  integer(c_int32_t), parameter, public :: NPK_MAX_DIMS = 32

  ! npk_open flags, OR-ed together (ior) or added.
  !> Create the directory and an empty store if missing.
  integer(c_int32_t), parameter, public :: NPK_OPEN_CREATE = 1
  !> Take no lock; every write returns NPK_READ_ONLY.
  integer(c_int32_t), parameter, public :: NPK_OPEN_READ_ONLY = 2
  !> fsync data, metadata and directory before each commit returns.
  integer(c_int32_t), parameter, public :: NPK_OPEN_DURABLE = 4
  !> An in-place writer, many at once; structural calls return NPK_WRONG_MODE.
  integer(c_int32_t), parameter, public :: NPK_OPEN_SHARED = 8
  !> Take no file lock (filesystems without locks); the caller guarantees the exclusion.
  integer(c_int32_t), parameter, public :: NPK_OPEN_NO_LOCKING = 16

  !> The header's version; compare with npk_version_number() at run time.
  integer(c_int32_t), parameter, public :: NPK_VERSION_MAJOR = 0
  integer(c_int32_t), parameter, public :: NPK_VERSION_MINOR = 1
  integer(c_int32_t), parameter, public :: NPK_VERSION_PATCH = 0

  ! Status codes (npk_status).
  integer(c_int32_t), parameter, public :: NPK_OK = 0
  !> A NULL pointer, a bad name, rank or flag, an index out of range, a buffer that cannot
  !> hold the data.
  integer(c_int32_t), parameter, public :: NPK_INVALID_ARGUMENT = 1
  !> No array (or store) by that name.
  integer(c_int32_t), parameter, public :: NPK_NOT_FOUND = 2
  !> The target name is taken (clone).
  integer(c_int32_t), parameter, public :: NPK_ALREADY_EXISTS = 3
  !> The array's dtype differs from the one the caller stated.
  integer(c_int32_t), parameter, public :: NPK_DTYPE_MISMATCH = 4
  !> The shape differs from what the operation needs, or would change where it may not.
  integer(c_int32_t), parameter, public :: NPK_SHAPE_MISMATCH = 5
  !> The operating system refused a file operation; the message has the path and errno.
  integer(c_int32_t), parameter, public :: NPK_IO = 6
  !> The store on disk is damaged or hostile; nothing was written to it.
  integer(c_int32_t), parameter, public :: NPK_CORRUPT = 7
  !> Another handle or process holds the store's writer lock.
  integer(c_int32_t), parameter, public :: NPK_LOCKED = 8
  !> The store was opened read-only (or lives on a read-only filesystem).
  integer(c_int32_t), parameter, public :: NPK_READ_ONLY = 9
  !> A batch is open on the store (plain writes), or one is already open (a second begin).
  integer(c_int32_t), parameter, public :: NPK_BUSY = 10
  !> Memory could not be allocated.
  integer(c_int32_t), parameter, public :: NPK_OUT_OF_MEMORY = 11
  !> A caller buffer is too small; the needed size was written to the out-parameter.
  integer(c_int32_t), parameter, public :: NPK_BUFFER_TOO_SMALL = 12
  !> A bug in libnumpack (a caught panic); the message says where.
  integer(c_int32_t), parameter, public :: NPK_INTERNAL = 13
  !> A durable store's change is committed and visible, but an fsync after its decision failed.
  integer(c_int32_t), parameter, public :: NPK_NOT_DURABLE = 14
  !> The open mode does not allow the call (a structural change on an NPK_OPEN_SHARED handle).
  integer(c_int32_t), parameter, public :: NPK_WRONG_MODE = 15

  ! Dtype codes (npk_dtype), NumPack's `dtype` byte.
  integer(c_int32_t), parameter, public :: NPK_BOOL = 0
  integer(c_int32_t), parameter, public :: NPK_UINT8 = 1
  integer(c_int32_t), parameter, public :: NPK_UINT16 = 2
  integer(c_int32_t), parameter, public :: NPK_UINT32 = 3
  integer(c_int32_t), parameter, public :: NPK_UINT64 = 4
  integer(c_int32_t), parameter, public :: NPK_INT8 = 5
  integer(c_int32_t), parameter, public :: NPK_INT16 = 6
  integer(c_int32_t), parameter, public :: NPK_INT32 = 7
  integer(c_int32_t), parameter, public :: NPK_INT64 = 8
  integer(c_int32_t), parameter, public :: NPK_FLOAT16 = 9
  integer(c_int32_t), parameter, public :: NPK_FLOAT32 = 10
  integer(c_int32_t), parameter, public :: NPK_FLOAT64 = 11
  !> Two float32, real then imaginary: complex(c_float_complex).
  integer(c_int32_t), parameter, public :: NPK_COMPLEX64 = 12
  !> Two float64, real then imaginary: complex(c_double_complex).
  integer(c_int32_t), parameter, public :: NPK_COMPLEX128 = 13

  ! Attribute types (npk_attr_type) and limits.
  integer(c_int32_t), parameter, public :: NPK_ATTR_INT64 = 1
  integer(c_int32_t), parameter, public :: NPK_ATTR_FLOAT64 = 2
  integer(c_int32_t), parameter, public :: NPK_ATTR_STRING = 3
  integer(c_int32_t), parameter, public :: NPK_ATTR_INT64_VECTOR = 4
  integer(c_int32_t), parameter, public :: NPK_ATTR_FLOAT64_VECTOR = 5
  integer(c_int32_t), parameter, public :: NPK_ATTR_MAX_KEY = 255
  integer(c_int32_t), parameter, public :: NPK_ATTR_MAX_VALUE = 65536
  integer(c_int32_t), parameter, public :: NPK_ATTR_MAX_COUNT = 1024

  ! ---------------------------------------------------------------------------------------
  ! Structs (numpack.h), layout-identical to C: c_ptr = void*, c_int32_t = int32_t/uint32_t,
  ! c_int64_t = int64_t/uint64_t. Components keep the C names; arrays are 1-based here, so
  ! C's shape[0] is shape(1). Each starts with struct_size, which the library reads to know how
  ! many bytes it may write (the C header's rule for appending fields); here it is initialised
  ! to the type's size (64-bit layout; test.f90 compares it with C's sizeof), the rest to zero,
  ! so a declared variable is ready to pass, and npk_view_release on a view that was never
  ! opened is a harmless no-op. The wrappers below set it again with c_sizeof before each call.
  ! ---------------------------------------------------------------------------------------

  !> sizeof(npk_view) on a 64-bit platform: 4 + 4 + 8 + 4 + 4 + 2 * 8 * NPK_MAX_DIMS + 8 + 8 + 8.
  integer(c_int32_t), parameter, public :: NPK_VIEW_SIZE = 48 + 16 * NPK_MAX_DIMS
  !> sizeof(npk_array_info) on a 64-bit platform: 4 * 4 + 8 * NPK_MAX_DIMS + 3 * 8.
  integer(c_int32_t), parameter, public :: NPK_ARRAY_INFO_SIZE = 40 + 8 * NPK_MAX_DIMS

  !> An array's memory as the library hands it out (see numpack.h): a read-only view
  !> (npk_view_open) or a batch view (npk_batch_load). shape(1:ndim) and strides(1:ndim) (bytes)
  !> describe C order; data is NULL for zero elements. Point a Fortran array at it with
  !> npk_view_array. Lifetime: a read-only view until npk_view_release; a batch view until
  !> npk_batch_end/npk_batch_abort, or, in a cache batch, until that array is saved again from
  !> another buffer with another shape or dtype. Do not touch `owner`.
  type, bind(C), public :: npk_view
    !> The struct's size, which the library reads before writing (on return: bytes written).
    integer(c_int32_t) :: struct_size = NPK_VIEW_SIZE       ! uint32_t
    integer(c_int32_t) :: dtype = 0
    type(c_ptr) :: data = c_null_ptr
    integer(c_int32_t) :: ndim = 0                          ! uint32_t
    !> 1 when writes through data are allowed (batch views), 0 for read-only views.
    integer(c_int32_t) :: writable = 0
    integer(c_int64_t) :: shape(NPK_MAX_DIMS) = 0           ! uint64_t
    integer(c_int64_t) :: strides(NPK_MAX_DIMS) = 0         ! int64_t, bytes
    integer(c_int64_t) :: itemsize = 0                      ! uint64_t
    integer(c_int64_t) :: nbytes = 0                        ! uint64_t
    type(c_ptr) :: owner = c_null_ptr
  end type npk_view

  !> What npk_info reports, in the logical view (dropped rows are not counted).
  type, bind(C), public :: npk_array_info
    !> The struct's size, which the library reads before writing (on return: bytes written).
    integer(c_int32_t) :: struct_size = NPK_ARRAY_INFO_SIZE ! uint32_t
    integer(c_int32_t) :: dtype = 0
    integer(c_int32_t) :: ndim = 0                          ! uint32_t
    !> 1 for a segmented array written by numpack 0.7.0.
    integer(c_int32_t) :: segmented = 0
    integer(c_int64_t) :: shape(NPK_MAX_DIMS) = 0           ! uint64_t, NumPy (C) order
    !> Logical size in bytes: product of shape times the item size.
    integer(c_int64_t) :: nbytes = 0                        ! uint64_t
    !> Last modification, microseconds since the Unix epoch.
    integer(c_int64_t) :: modify_time_us = 0                ! uint64_t
    !> Rows in the data file, dropped ones included (equals shape(1) after npk_compact).
    integer(c_int64_t) :: physical_rows = 0                 ! uint64_t
  end type npk_array_info

  ! ---------------------------------------------------------------------------------------
  ! Raw C interfaces, in header order. Semantics: see numpack.h. The four functions without
  ! side effects or state (npk_status_str, npk_dtype_size, npk_version, npk_version_number)
  ! are PURE, so they may appear in specification expressions and short-circuited conditions.
  ! ---------------------------------------------------------------------------------------
  public :: npk_batch_begin, npk_writable_batch_begin, npk_batch_load, npk_batch_save
  public :: npk_batch_end, npk_batch_abort, npk_last_error, npk_status_str
  public :: npk_open, npk_close, npk_save, npk_create, npk_read_block, npk_write_block
  public :: npk_load, npk_append, npk_replace_rows
  public :: npk_get_rows, npk_drop, npk_drop_rows, npk_compact, npk_clone, npk_has, npk_list
  public :: npk_info, npk_refresh, npk_dtype_size, npk_view_open, npk_view_release
  public :: npk_version, npk_version_number
  public :: npk_attr_set, npk_attr_delete, npk_attr_query, npk_attr_get, npk_attr_list
  public :: npk_batch_attr_set, npk_batch_attr_delete

  interface
    !> npk_status npk_batch_begin(npk_store *store, uint64_t memory_limit_mb, npk_batch **out_batch)
    function npk_batch_begin(store, memory_limit_mb, out_batch) result(status) &
        bind(C, name="npk_batch_begin")
      import :: c_ptr, c_int32_t, c_int64_t
      type(c_ptr), value :: store
      integer(c_int64_t), value :: memory_limit_mb
      type(c_ptr), intent(out) :: out_batch
      integer(c_int32_t) :: status
    end function npk_batch_begin

    !> npk_status npk_writable_batch_begin(npk_store *store, npk_batch **out_batch)
    function npk_writable_batch_begin(store, out_batch) result(status) &
        bind(C, name="npk_writable_batch_begin")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: store
      type(c_ptr), intent(out) :: out_batch
      integer(c_int32_t) :: status
    end function npk_writable_batch_begin

    !> npk_status npk_batch_load(npk_batch *batch, const char *name, npk_view *out_view)
    !> out_view is written only on success.
    function npk_batch_load(batch, name, out_view) result(status) &
        bind(C, name="npk_batch_load")
      import :: c_ptr, c_int32_t, c_char, npk_view
      type(c_ptr), value :: batch
      character(kind=c_char), dimension(*), intent(in) :: name
      type(npk_view), intent(inout) :: out_view
      integer(c_int32_t) :: status
    end function npk_batch_load

    !> npk_status npk_batch_save(npk_batch *batch, const char *name, npk_dtype dtype,
    !>     uint32_t ndim, const uint64_t *shape, const void *data, const int64_t *strides)
    !> Absent strides = NULL = C order.
    function npk_batch_save(batch, name, dtype, ndim, shape, data, strides) result(status) &
        bind(C, name="npk_batch_save")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: batch
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_batch_save

    !> npk_status npk_batch_end(npk_batch *batch)
    function npk_batch_end(batch) result(status) bind(C, name="npk_batch_end")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: batch
      integer(c_int32_t) :: status
    end function npk_batch_end

    !> npk_status npk_batch_abort(npk_batch *batch)
    function npk_batch_abort(batch) result(status) bind(C, name="npk_batch_abort")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: batch
      integer(c_int32_t) :: status
    end function npk_batch_abort

    !> const char *npk_last_error(void). Use npk_error_message() for a Fortran string.
    function npk_last_error() result(message) bind(C, name="npk_last_error")
      import :: c_ptr
      type(c_ptr) :: message
    end function npk_last_error

    !> const char *npk_status_str(npk_status status). Use npk_status_name() for a Fortran string.
    pure function npk_status_str(status) result(name) bind(C, name="npk_status_str")
      import :: c_ptr, c_int32_t
      integer(c_int32_t), value :: status
      type(c_ptr) :: name
    end function npk_status_str

    !> npk_status npk_open(const char *path, uint32_t flags, npk_store **out_store)
    function npk_open(path, flags, out_store) result(status) bind(C, name="npk_open")
      import :: c_ptr, c_int32_t, c_char
      character(kind=c_char), dimension(*), intent(in) :: path
      integer(c_int32_t), value :: flags
      type(c_ptr), intent(out) :: out_store
      integer(c_int32_t) :: status
    end function npk_open

    !> npk_status npk_close(npk_store *store)
    function npk_close(store) result(status) bind(C, name="npk_close")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: store
      integer(c_int32_t) :: status
    end function npk_close

    !> npk_status npk_save(npk_store *store, const char *name, npk_dtype dtype, uint32_t ndim,
    !>     const uint64_t *shape, const void *data, const int64_t *strides)
    function npk_save(store, name, dtype, ndim, shape, data, strides) result(status) &
        bind(C, name="npk_save")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_save

    !> npk_status npk_create(npk_store *store, const char *name, npk_dtype dtype, uint32_t ndim,
    !>     const uint64_t *shape, const void *fill)
    !> fill: c_loc of one element of dtype, or c_null_ptr for zeros.
    function npk_create(store, name, dtype, ndim, shape, fill) result(status) &
        bind(C, name="npk_create")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: fill
      integer(c_int32_t) :: status
    end function npk_create

    !> npk_status npk_read_block(npk_store *store, const char *name, npk_dtype dtype,
    !>     uint32_t ndim, const uint64_t *offset, const uint64_t *count, void *data,
    !>     const int64_t *strides)
    !> offset and count are NumPy's (0-based, C dimension order); absent = NULL (0-d arrays).
    function npk_read_block(store, name, dtype, ndim, offset, count, data, strides) &
        result(status) bind(C, name="npk_read_block")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in), optional :: offset
      integer(c_int64_t), dimension(*), intent(in), optional :: count
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_read_block

    !> npk_status npk_write_block(npk_store *store, const char *name, npk_dtype dtype,
    !>     uint32_t ndim, const uint64_t *offset, const uint64_t *count, const void *data,
    !>     const int64_t *strides)
    function npk_write_block(store, name, dtype, ndim, offset, count, data, strides) &
        result(status) bind(C, name="npk_write_block")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in), optional :: offset
      integer(c_int64_t), dimension(*), intent(in), optional :: count
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_write_block

    !> npk_status npk_load(npk_store *store, const char *name, npk_dtype dtype, uint32_t ndim,
    !>     const uint64_t *shape, void *data, const int64_t *strides)
    function npk_load(store, name, dtype, ndim, shape, data, strides) result(status) &
        bind(C, name="npk_load")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_load

    !> npk_status npk_append(npk_store *store, const char *name, npk_dtype dtype, uint32_t ndim,
    !>     const uint64_t *shape, const void *data, const int64_t *strides)
    function npk_append(store, name, dtype, ndim, shape, data, strides) result(status) &
        bind(C, name="npk_append")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_append

    !> npk_status npk_replace_rows(npk_store *store, const char *name, const int64_t *indices,
    !>     uint64_t count, npk_dtype dtype, uint32_t ndim, const uint64_t *shape,
    !>     const void *data, const int64_t *strides)
    !> indices are NumPy's: 0-based, negative from the end.
    function npk_replace_rows(store, name, indices, count, dtype, ndim, shape, data, strides) &
        result(status) bind(C, name="npk_replace_rows")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int64_t), dimension(*), intent(in) :: indices
      integer(c_int64_t), value :: count
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_replace_rows

    !> npk_status npk_get_rows(npk_store *store, const char *name, const int64_t *indices,
    !>     uint64_t count, npk_dtype dtype, uint32_t ndim, const uint64_t *shape, void *data,
    !>     const int64_t *strides)
    !> indices are NumPy's: 0-based, negative from the end.
    function npk_get_rows(store, name, indices, count, dtype, ndim, shape, data, strides) &
        result(status) bind(C, name="npk_get_rows")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int64_t), dimension(*), intent(in) :: indices
      integer(c_int64_t), value :: count
      integer(c_int32_t), value :: dtype
      integer(c_int32_t), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape
      type(c_ptr), value :: data
      integer(c_int64_t), dimension(*), intent(in), optional :: strides
      integer(c_int32_t) :: status
    end function npk_get_rows

    !> npk_status npk_drop(npk_store *store, const char *const *names, uint64_t count)
    !> names(i) = c_loc of a NUL-terminated string; see npk_drop_arrays for the easy way.
    function npk_drop(store, names, count) result(status) bind(C, name="npk_drop")
      import :: c_ptr, c_int32_t, c_int64_t
      type(c_ptr), value :: store
      type(c_ptr), dimension(*), intent(in) :: names
      integer(c_int64_t), value :: count
      integer(c_int32_t) :: status
    end function npk_drop

    !> npk_status npk_drop_rows(npk_store *store, const char *name, const int64_t *indices,
    !>     uint64_t count)
    !> indices are NumPy's: 0-based, negative from the end.
    function npk_drop_rows(store, name, indices, count) result(status) &
        bind(C, name="npk_drop_rows")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int64_t), dimension(*), intent(in) :: indices
      integer(c_int64_t), value :: count
      integer(c_int32_t) :: status
    end function npk_drop_rows

    !> npk_status npk_compact(npk_store *store, const char *name)
    !> Absent name = NULL = every array that needs it.
    function npk_compact(store, name) result(status) bind(C, name="npk_compact")
      import :: c_ptr, c_int32_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in), optional :: name
      integer(c_int32_t) :: status
    end function npk_compact

    !> npk_status npk_clone(npk_store *store, const char *src, const char *dst)
    function npk_clone(store, src, dst) result(status) bind(C, name="npk_clone")
      import :: c_ptr, c_int32_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: src
      character(kind=c_char), dimension(*), intent(in) :: dst
      integer(c_int32_t) :: status
    end function npk_clone

    !> npk_status npk_has(npk_store *store, const char *name, int32_t *out_exists)
    function npk_has(store, name, out_exists) result(status) bind(C, name="npk_has")
      import :: c_ptr, c_int32_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      integer(c_int32_t), intent(out) :: out_exists
      integer(c_int32_t) :: status
    end function npk_has

    !> npk_status npk_list(npk_store *store, char *buf, uint64_t buf_len, uint64_t *out_needed,
    !>     uint64_t *out_count)
    !> buf is c_loc of a character(kind=c_char) buffer, or c_null_ptr to ask for the sizes;
    !> see npk_list_names for the easy way.
    function npk_list(store, buf, buf_len, out_needed, out_count) result(status) &
        bind(C, name="npk_list")
      import :: c_ptr, c_int32_t, c_int64_t
      type(c_ptr), value :: store
      type(c_ptr), value :: buf
      integer(c_int64_t), value :: buf_len
      integer(c_int64_t), intent(out) :: out_needed
      integer(c_int64_t), intent(out) :: out_count
      integer(c_int32_t) :: status
    end function npk_list

    !> npk_status npk_info(npk_store *store, const char *name, npk_array_info *out_info)
    !> out_info is written only on success.
    function npk_info(store, name, out_info) result(status) bind(C, name="npk_info")
      import :: c_ptr, c_int32_t, c_char, npk_array_info
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      type(npk_array_info), intent(inout) :: out_info
      integer(c_int32_t) :: status
    end function npk_info

    !> npk_status npk_refresh(npk_store *store)
    function npk_refresh(store) result(status) bind(C, name="npk_refresh")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: store
      integer(c_int32_t) :: status
    end function npk_refresh

    !> uint64_t npk_dtype_size(npk_dtype dtype): item size in bytes, 0 for an unknown code.
    pure function npk_dtype_size(dtype) result(size) bind(C, name="npk_dtype_size")
      import :: c_int32_t, c_int64_t
      integer(c_int32_t), value :: dtype
      integer(c_int64_t) :: size
    end function npk_dtype_size

    !> npk_status npk_view_open(npk_store *store, const char *name, npk_view *out_view)
    !> out_view is written only on success.
    function npk_view_open(store, name, out_view) result(status) bind(C, name="npk_view_open")
      import :: c_ptr, c_int32_t, c_char, npk_view
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in) :: name
      type(npk_view), intent(inout) :: out_view
      integer(c_int32_t) :: status
    end function npk_view_open

    !> npk_status npk_view_release(npk_view *view): releases a read-only view, zeroes all but struct_size.
    function npk_view_release(view) result(status) bind(C, name="npk_view_release")
      import :: c_int32_t, npk_view
      type(npk_view), intent(inout) :: view
      integer(c_int32_t) :: status
    end function npk_view_release

    !> const char *npk_version(void). Use npk_version_string() for a Fortran string.
    pure function npk_version() result(version) bind(C, name="npk_version")
      import :: c_ptr
      type(c_ptr) :: version
    end function npk_version

    !> uint32_t npk_version_number(void): MAJOR*10000 + MINOR*100 + PATCH of the loaded library.
    pure function npk_version_number() result(number) bind(C, name="npk_version_number")
      import :: c_int32_t
      integer(c_int32_t) :: number
    end function npk_version_number

    ! --- attributes (owner `array` absent = the store's own) ---

    !> npk_status npk_attr_set(npk_store *store, const char *array, const char *key,
    !>     npk_attr_type type, const void *data, uint64_t len)
    function npk_attr_set(store, array, key, type, data, len) result(status) &
        bind(C, name="npk_attr_set")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in), optional :: array
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int32_t), value :: type
      type(c_ptr), value :: data
      integer(c_int64_t), value :: len
      integer(c_int32_t) :: status
    end function npk_attr_set

    !> npk_status npk_attr_delete(npk_store *store, const char *array, const char *key)
    function npk_attr_delete(store, array, key) result(status) bind(C, name="npk_attr_delete")
      import :: c_ptr, c_int32_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in), optional :: array
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int32_t) :: status
    end function npk_attr_delete

    !> npk_status npk_attr_query(npk_store *store, const char *array, const char *key,
    !>     npk_attr_type *out_type, uint64_t *out_len)
    function npk_attr_query(store, array, key, out_type, out_len) result(status) &
        bind(C, name="npk_attr_query")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in), optional :: array
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int32_t), intent(out) :: out_type
      integer(c_int64_t), intent(out) :: out_len
      integer(c_int32_t) :: status
    end function npk_attr_query

    !> npk_status npk_attr_get(npk_store *store, const char *array, const char *key,
    !>     npk_attr_type type, void *buf, uint64_t buf_len, uint64_t *out_len)
    function npk_attr_get(store, array, key, type, buf, buf_len, out_len) result(status) &
        bind(C, name="npk_attr_get")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in), optional :: array
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int32_t), value :: type
      type(c_ptr), value :: buf
      integer(c_int64_t), value :: buf_len
      integer(c_int64_t), intent(out) :: out_len
      integer(c_int32_t) :: status
    end function npk_attr_get

    !> npk_status npk_attr_list(npk_store *store, const char *array, char *buf, uint64_t buf_len,
    !>     uint64_t *out_needed, uint64_t *out_count)
    function npk_attr_list(store, array, buf, buf_len, out_needed, out_count) result(status) &
        bind(C, name="npk_attr_list")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: store
      character(kind=c_char), dimension(*), intent(in), optional :: array
      type(c_ptr), value :: buf
      integer(c_int64_t), value :: buf_len
      integer(c_int64_t), intent(out) :: out_needed
      integer(c_int64_t), intent(out) :: out_count
      integer(c_int32_t) :: status
    end function npk_attr_list

    !> npk_status npk_batch_attr_set(npk_batch *batch, const char *array, const char *key,
    !>     npk_attr_type type, const void *data, uint64_t len)
    function npk_batch_attr_set(batch, array, key, type, data, len) result(status) &
        bind(C, name="npk_batch_attr_set")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: batch
      character(kind=c_char), dimension(*), intent(in), optional :: array
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int32_t), value :: type
      type(c_ptr), value :: data
      integer(c_int64_t), value :: len
      integer(c_int32_t) :: status
    end function npk_batch_attr_set

    !> npk_status npk_batch_attr_delete(npk_batch *batch, const char *array, const char *key)
    function npk_batch_attr_delete(batch, array, key) result(status) &
        bind(C, name="npk_batch_attr_delete")
      import :: c_ptr, c_int32_t, c_char
      type(c_ptr), value :: batch
      character(kind=c_char), dimension(*), intent(in), optional :: array
      character(kind=c_char), dimension(*), intent(in) :: key
      integer(c_int32_t) :: status
    end function npk_batch_attr_delete

    ! libc's strlen, for C strings handed out by the library.
    function c_strlen(s) result(n) bind(C, name="strlen")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function c_strlen
  end interface

  ! ---------------------------------------------------------------------------------------
  ! Fortran-friendly layer
  ! ---------------------------------------------------------------------------------------
  public :: npk_cstr, npk_fstr, npk_error_message, npk_status_name, npk_dtype_name
  public :: npk_version_string, npk_check, npk_column_major_strides
  public :: npk_open_store, npk_close_store, npk_has_array, npk_get_info
  public :: npk_drop_arrays, npk_list_names, npk_open_view, npk_batch_load_view
  public :: npk_batch_save_view
  public :: npk_save_array, npk_load_array, npk_load_alloc, npk_append_array
  public :: npk_batch_save_array, npk_view_array
  public :: npk_create_array, npk_read_block_array, npk_write_block_array
  public :: npk_set_attr, npk_get_attr, npk_delete_attr, npk_attr_names, npk_attr_info
  public :: npk_batch_set_attr, npk_batch_delete_attr

  !> st = npk_set_attr(store, key, value [, array]): sets attribute `key` of the store (or of
  !> array `array`) in one atomic commit. value: integer (any kind: stored as int64), real
  !> (stored as float64), character (trailing blanks kept; trim() it if they are padding), or a
  !> rank-1 array of integer(c_int32_t/c_int64_t) or real(c_float/c_double) (a vector).
  interface npk_set_attr
    module procedure set_attr_i4, set_attr_i8, set_attr_r4, set_attr_r8, set_attr_str, &
      set_attr_vi4, set_attr_vi8, set_attr_vr4, set_attr_vr8
  end interface npk_set_attr

  !> st = npk_batch_set_attr(batch, key, value [, array]): as npk_set_attr inside a cache batch,
  !> committed with its arrays by npk_batch_end.
  interface npk_batch_set_attr
    module procedure bset_attr_i4, bset_attr_i8, bset_attr_r4, bset_attr_r8, bset_attr_str, &
      bset_attr_vi4, bset_attr_vi8, bset_attr_vr4, bset_attr_vr8
  end interface npk_batch_set_attr

  !> st = npk_get_attr(store, key, value [, array]): reads attribute `key` into value:
  !> integer(c_int64_t) or real(c_double) scalar, character(len=:), allocatable, or an
  !> allocatable rank-1 integer(c_int64_t) / real(c_double) (allocated to the length). A stored
  !> type that does not fit the argument is NPK_DTYPE_MISMATCH (an int64 scalar reads into a
  !> vector of length 1 too).
  interface npk_get_attr
    module procedure get_attr_i8, get_attr_r8, get_attr_str, get_attr_vi8, get_attr_vr8
  end interface npk_get_attr

  !> st = npk_save_array(store, name, a): creates or replaces array `name` with a copy of `a`
  !> (any rank; NumPy sees shape(a) with a(i,j,...) == arr[i-1,j-1,...]).
  interface npk_save_array
    module procedure save_r4, save_r8, save_i1, save_i2, save_i4, save_i8, save_c4, save_c8, &
      save_lb
  end interface npk_save_array

  !> st = npk_load_array(store, name, a): reads array `name` into `a`, whose type and shape
  !> must be the array's (NPK_DTYPE_MISMATCH / NPK_SHAPE_MISMATCH otherwise; see npk_get_info).
  interface npk_load_array
    module procedure load_r4, load_r8, load_i1, load_i2, load_i4, load_i8, load_c4, load_c8, &
      load_lb
  end interface npk_load_array

  !> st = npk_load_alloc(store, name, a): (re)allocates the allocatable `a` (rank 1 to 3) to
  !> the array's shape and reads it. The type and rank must be the array's.
  interface npk_load_alloc
    module procedure load_alloc_r4, load_alloc_r8, load_alloc_i1, load_alloc_i2, &
      load_alloc_i4, load_alloc_i8, load_alloc_c4, load_alloc_c8, load_alloc_lb
  end interface npk_load_alloc

  !> st = npk_append_array(store, name, a): appends the rows of `a` (its FIRST index) to the
  !> existing array `name`; the other extents must match. NPK_NOT_FOUND if it does not exist.
  interface npk_append_array
    module procedure append_r4, append_r8, append_i1, append_i2, append_i4, append_i8, &
      append_c4, append_c8, append_lb
  end interface npk_append_array

  !> st = npk_batch_save_array(batch, name, a): npk_batch_save of a Fortran array (copied,
  !> same index convention as npk_save_array). To mark an array changed through its cache-batch
  !> view, use npk_batch_save_view instead (no copy).
  interface npk_batch_save_array
    module procedure batch_save_r4, batch_save_r8, batch_save_i1, batch_save_i2, &
      batch_save_i4, batch_save_i8, batch_save_c4, batch_save_c8, batch_save_lb
  end interface npk_batch_save_array

  !> st = npk_view_array(view, p): points the Fortran pointer `p` (rank 1 to 3) at the view's
  !> memory with the REVERSED shape: NumPy (d0,d1) -> p(d1,d0), p(j+1,i+1) == arr[i,j]. Writes
  !> through p change the data when view%writable == 1 (batch views). NPK_DTYPE_MISMATCH or
  !> NPK_SHAPE_MISMATCH (rank) if p does not fit; p is then nullified. p is valid as long as
  !> the view (see npk_view).
  interface npk_view_array
    module procedure view_r4, view_r8, view_i1, view_i2, view_i4, view_i8, view_c4, view_c8, &
      view_lb
  end interface npk_view_array

  !> st = npk_create_array(store, name, dims, fill): creates array `name` of shape `dims`
  !> (Fortran order, as npk_save_array would store an array of that shape) and of fill's type,
  !> without data: the file is only sized (sparse) and every element reads as `fill` (a zero
  !> fill costs nothing; another value is written out). One atomic commit; NPK_ALREADY_EXISTS if
  !> the name is taken. dims: integer(c_int32_t) or integer(c_int64_t), size 0 for a scalar.
  interface npk_create_array
    module procedure create_r4, create_r8, create_i1, create_i2, create_i4, &
      create_i8, create_c4, create_c8, create_lb
  end interface npk_create_array

  !> st = npk_read_block_array(store, name, a, istart [, iend]): reads into `a` the block of
  !> elements istart(k)..iend(k) (1-based, inclusive, one pair per dimension of the stored
  !> array) of the stored array's Fortran view, the one npk_save_array/npk_load_array use:
  !> A(i,j,...) == arr[i-1,j-1,...]. h5fortran's istart/iend convention. `a` holds the block
  !> column-major: a(1,1) is element (istart(1), istart(2)). Without iend the block is
  !> shape(a) from istart on. `a` may have another rank than the array when it has the block's
  !> number of elements (a column into a rank-1 a); with the same rank its shape must be the
  !> block's. Rows (NumPy's axis 0, the first index) are logical: dropped rows are skipped.
  interface npk_read_block_array
    module procedure read_block_r4, read_block_r8, read_block_i1, read_block_i2, read_block_i4, &
      read_block_i8, read_block_c4, read_block_c8, read_block_lb
  end interface npk_read_block_array

  !> st = npk_write_block_array(store, name, a, istart [, iend]): writes `a` into the block
  !> istart..iend of the stored array, in place (same convention as npk_read_block_array; like
  !> npk_replace_rows, not a commit: a crash may leave part of the block written).
  interface npk_write_block_array
    module procedure write_block_r4, write_block_r8, write_block_i1, write_block_i2, write_block_i4, &
      write_block_i8, write_block_c4, write_block_c8, write_block_lb
  end interface npk_write_block_array

  !> What npk_list_names returns: names(i) is the i-th array name, blank-padded.
  type, public :: npk_name_list
    character(len=:), allocatable :: names(:)
  end type npk_name_list

  integer, parameter :: OP_SAVE = 1, OP_APPEND = 2, OP_BATCH_SAVE = 3

  ! This module's own last failure (see npk_error_message), and the library's message at that
  ! moment: once the library's message changes, the library failed later and is the latest.
  character(len=:), allocatable :: own_message, own_snapshot
  logical :: own_active = .false.

  ! What a pointer to a view with zero elements (data NULL) is associated with.
  integer(c_int64_t), target :: empty_storage(2) = 0

contains

  ! ---------------------------------------------------------------------------------------
  ! Strings, errors, versions
  ! ---------------------------------------------------------------------------------------

  !> A Fortran string as a C string: trailing blanks trimmed, NUL appended. Pass the result to
  !> the raw interfaces: npk_has(store, npk_cstr("temperature"), exists).
  pure function npk_cstr(s) result(c)
    character(*), intent(in) :: s
    character(kind=c_char, len=:), allocatable :: c
    c = trim(s) // c_null_char
  end function npk_cstr

  !> A C string (NUL-terminated char*, e.g. npk_last_error()) as a Fortran string; NULL -> "".
  function npk_fstr(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer(c_size_t) :: n, i
    if (.not. c_associated(p)) then
      s = ''
      return
    end if
    n = c_strlen(p)
    call c_f_pointer(p, chars, [n])
    allocate (character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function npk_fstr

  !> The message of the last failure on this thread ("" if none): the library's
  !> (npk_last_error), or this module's own if one of its checks failed since.
  function npk_error_message() result(message)
    character(len=:), allocatable :: message
    message = npk_fstr(npk_last_error())
    if (own_active) then
      if (len(message) == len(own_snapshot)) then
        if (message == own_snapshot) then
          message = own_message
          return
        end if
      end if
      own_active = .false.
    end if
  end function npk_error_message

  !> The status code's name ("NPK_NOT_FOUND"); "NPK_UNKNOWN" for anything else.
  function npk_status_name(status) result(name)
    integer(c_int32_t), intent(in) :: status
    character(len=:), allocatable :: name
    name = npk_fstr(npk_status_str(status))
  end function npk_status_name

  !> NumPy's name of a dtype code ("float64"); "unknown" for anything else.
  pure function npk_dtype_name(dtype) result(name)
    integer(c_int32_t), intent(in) :: dtype
    character(len=:), allocatable :: name
    select case (dtype)
    case (NPK_BOOL); name = 'bool'
    case (NPK_UINT8); name = 'uint8'
    case (NPK_UINT16); name = 'uint16'
    case (NPK_UINT32); name = 'uint32'
    case (NPK_UINT64); name = 'uint64'
    case (NPK_INT8); name = 'int8'
    case (NPK_INT16); name = 'int16'
    case (NPK_INT32); name = 'int32'
    case (NPK_INT64); name = 'int64'
    case (NPK_FLOAT16); name = 'float16'
    case (NPK_FLOAT32); name = 'float32'
    case (NPK_FLOAT64); name = 'float64'
    case (NPK_COMPLEX64); name = 'complex64'
    case (NPK_COMPLEX128); name = 'complex128'
    case default; name = 'unknown'
    end select
  end function npk_dtype_name

  !> The loaded library's version, "MAJOR.MINOR.PATCH".
  function npk_version_string() result(version)
    character(len=:), allocatable :: version
    version = npk_fstr(npk_version())
  end function npk_version_string

  !> Does nothing for NPK_OK; otherwise writes "numpack: [what: ]NPK_X: message" and stops the
  !> program with ERROR STOP (exit code 1). For programs where any failure is fatal.
  subroutine npk_check(status, what)
    integer(c_int32_t), intent(in) :: status
    character(*), intent(in), optional :: what
    character(len=:), allocatable :: message
    if (status == NPK_OK) return
    message = npk_status_name(status) // ': ' // npk_error_message()
    if (present(what)) message = what // ': ' // message
    error stop 'numpack: ' // message
  end subroutine npk_check

  !> Byte strides of a column-major (Fortran) array of extents `shp`: (itemsize, itemsize*n1,
  !> ...), for the raw interfaces' strides argument (npk_get_rows, npk_replace_rows, ...).
  pure function npk_column_major_strides(shp, itemsize) result(strides)
    integer(c_int64_t), intent(in) :: shp(:)
    integer(c_int64_t), intent(in) :: itemsize
    integer(c_int64_t) :: strides(size(shp))
    integer :: k
    if (size(shp) == 0) return
    strides(1) = itemsize
    do k = 2, size(shp)
      strides(k) = strides(k - 1) * max(shp(k - 1), 1_c_int64_t)
    end do
  end function npk_column_major_strides

  ! Records a failure found by this module (not the library) and returns its status.
  function own_fail(status, message) result(st)
    integer(c_int32_t), intent(in) :: status
    character(*), intent(in) :: message
    integer(c_int32_t) :: st
    own_message = message
    own_snapshot = npk_fstr(npk_last_error())
    own_active = .true.
    st = status
  end function own_fail

  ! Passes a library status through; a library failure is now the latest one.
  function lib(status) result(st)
    integer(c_int32_t), intent(in) :: status
    integer(c_int32_t) :: st
    if (status /= NPK_OK) own_active = .false.
    st = status
  end function lib

  pure function itoa(i) result(s)
    integer(c_int64_t), intent(in) :: i
    character(len=:), allocatable :: s
    character(len=24) :: buf
    write (buf, '(i0)') i
    s = trim(buf)
  end function itoa

  ! ---------------------------------------------------------------------------------------
  ! Stores, names, info
  ! ---------------------------------------------------------------------------------------

  !> Opens (flags NPK_OPEN_CREATE: creates) the store in directory `path`; store is c_null_ptr
  !> on failure.
  function npk_open_store(path, flags, store) result(st)
    character(*), intent(in) :: path
    integer(c_int32_t), intent(in) :: flags
    type(c_ptr), intent(out) :: store
    integer(c_int32_t) :: st
    store = c_null_ptr
    st = lib(npk_open(npk_cstr(path), flags, store))
  end function npk_open_store

  !> Closes the store (c_null_ptr is fine) and sets the handle to c_null_ptr.
  function npk_close_store(store) result(st)
    type(c_ptr), intent(inout) :: store
    integer(c_int32_t) :: st
    st = lib(npk_close(store))
    if (st == NPK_OK) store = c_null_ptr
  end function npk_close_store

  !> exists = whether array `name` is in the store.
  function npk_has_array(store, name, exists) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical, intent(out) :: exists
    integer(c_int32_t) :: st
    integer(c_int32_t) :: flag
    flag = 0
    st = lib(npk_has(store, npk_cstr(name), flag))
    exists = st == NPK_OK .and. flag /= 0
  end function npk_has_array

  !> npk_info by Fortran name. info%shape(1:info%ndim) is NumPy's shape, which is also the
  !> shape of the Fortran array npk_load_array wants.
  function npk_get_info(store, name, info) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    type(npk_array_info), intent(inout) :: info
    integer(c_int32_t) :: st
    info%struct_size = int(c_sizeof(info), c_int32_t)
    st = lib(npk_info(store, npk_cstr(name), info))
  end function npk_get_info

  !> Removes the arrays `names` (trailing blanks trimmed): all of them or, if one is missing,
  !> none (NPK_NOT_FOUND).
  function npk_drop_arrays(store, names) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: names(:)
    integer(c_int32_t) :: st
    character(kind=c_char), allocatable, target :: buf(:)
    type(c_ptr), allocatable :: ptrs(:)
    integer :: i, k, n, pos
    allocate (buf(size(names) * (len(names) + 1) + 1))
    allocate (ptrs(max(1, size(names))))
    pos = 1
    do i = 1, size(names)
      n = len_trim(names(i))
      do k = 1, n
        buf(pos + k - 1) = names(i)(k:k)
      end do
      buf(pos + n) = c_null_char
      ptrs(i) = c_loc(buf(pos))
      pos = pos + n + 1
    end do
    st = lib(npk_drop(store, ptrs, int(size(names), c_int64_t)))
  end function npk_drop_arrays

  !> list%names = the store's array names, sorted, blank-padded to the longest (zero-size for an
  !> empty store or on failure). (A derived type rather than a bare deferred-length array:
  !> gfortran 12 -Wall warns "'.names' may be used uninitialized" at every call passing one.)
  function npk_list_names(store, list) result(st)
    type(c_ptr), intent(in) :: store
    type(npk_name_list), intent(out) :: list
    integer(c_int32_t) :: st
    character(kind=c_char), allocatable, target :: buf(:)
    integer(c_int64_t) :: needed, count, cap, i, j, start, longest, k
    allocate (character(len=0) :: list%names(0))
    needed = 0
    count = 0
    do
      st = lib(npk_list(store, c_null_ptr, 0_c_int64_t, needed, count))
      if (st /= NPK_OK) return
      if (allocated(buf)) deallocate (buf)
      cap = needed
      allocate (buf(max(cap, 1_c_int64_t)))
      st = lib(npk_list(store, c_loc(buf), cap, needed, count))
      if (st /= NPK_BUFFER_TOO_SMALL) exit ! the store changed in between: ask again
    end do
    if (st /= NPK_OK) return
    longest = 0
    start = 1
    do i = 1, needed
      if (buf(i) == c_null_char) then
        longest = max(longest, i - start)
        start = i + 1
      end if
    end do
    deallocate (list%names)
    allocate (character(len=longest) :: list%names(count))
    list%names = ''
    start = 1
    k = 1
    do i = 1, needed
      if (buf(i) == c_null_char) then
        if (k <= count) then
          do j = start, i - 1
            list%names(k)(j - start + 1:j - start + 1) = buf(j)
          end do
        end if
        k = k + 1
        start = i + 1
      end if
    end do
  end function npk_list_names

  ! ---------------------------------------------------------------------------------------
  ! Attributes
  ! ---------------------------------------------------------------------------------------

  ! Sets one attribute through the store (batch absent) or a cache batch.
  function put_attr(store, batch, key, array, type, data, n) result(st)
    type(c_ptr), intent(in) :: store, batch
    character(*), intent(in) :: key
    character(*), intent(in), optional :: array
    integer(c_int32_t), intent(in) :: type
    type(c_ptr), intent(in) :: data
    integer(c_int64_t), intent(in) :: n
    integer(c_int32_t) :: st
    if (c_associated(batch)) then
      if (present(array)) then
        st = lib(npk_batch_attr_set(batch, npk_cstr(array), npk_cstr(key), type, data, n))
      else
        st = lib(npk_batch_attr_set(batch, key=npk_cstr(key), type=type, data=data, len=n))
      end if
    else if (present(array)) then
      st = lib(npk_attr_set(store, npk_cstr(array), npk_cstr(key), type, data, n))
    else
      st = lib(npk_attr_set(store, key=npk_cstr(key), type=type, data=data, len=n))
    end if
  end function put_attr

  function set_attr_i8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int64_t), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    integer(c_int64_t), target :: v(1)
    v(1) = value
    st = put_attr(store, c_null_ptr, key, array, NPK_ATTR_INT64, c_loc(v), 1_c_int64_t)
  end function set_attr_i8

  function set_attr_i4(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int32_t), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = set_attr_i8(store, key, int(value, c_int64_t), array)
  end function set_attr_i4

  function set_attr_r8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    real(c_double), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    real(c_double), target :: v(1)
    v(1) = value
    st = put_attr(store, c_null_ptr, key, array, NPK_ATTR_FLOAT64, c_loc(v), 1_c_int64_t)
  end function set_attr_r8

  function set_attr_r4(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    real(c_float), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = set_attr_r8(store, key, real(value, c_double), array)
  end function set_attr_r4

  function set_attr_str(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    character(*), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    character(kind=c_char), allocatable, target :: v(:)
    integer :: i
    allocate (v(max(len(value), 1)))
    do i = 1, len(value)
      v(i) = value(i:i)
    end do
    st = put_attr(store, c_null_ptr, key, array, NPK_ATTR_STRING, c_loc(v), &
      int(len(value), c_int64_t))
  end function set_attr_str

  function set_attr_vi8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int64_t), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    integer(c_int64_t), allocatable, target :: v(:)
    allocate (v(max(size(value), 1)))
    v(1:size(value)) = value
    st = put_attr(store, c_null_ptr, key, array, NPK_ATTR_INT64_VECTOR, c_loc(v), &
      int(size(value), c_int64_t))
  end function set_attr_vi8

  function set_attr_vi4(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int32_t), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = set_attr_vi8(store, key, int(value, c_int64_t), array)
  end function set_attr_vi4

  function set_attr_vr8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    real(c_double), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    real(c_double), allocatable, target :: v(:)
    allocate (v(max(size(value), 1)))
    v(1:size(value)) = value
    st = put_attr(store, c_null_ptr, key, array, NPK_ATTR_FLOAT64_VECTOR, c_loc(v), &
      int(size(value), c_int64_t))
  end function set_attr_vr8

  function set_attr_vr4(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    real(c_float), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = set_attr_vr8(store, key, real(value, c_double), array)
  end function set_attr_vr4

  ! The batch versions: the same values through npk_batch_attr_set.
  function bset_attr_i8(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    integer(c_int64_t), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    integer(c_int64_t), target :: v(1)
    v(1) = value
    st = put_attr(c_null_ptr, batch, key, array, NPK_ATTR_INT64, c_loc(v), 1_c_int64_t)
  end function bset_attr_i8

  function bset_attr_i4(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    integer(c_int32_t), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = bset_attr_i8(batch, key, int(value, c_int64_t), array)
  end function bset_attr_i4

  function bset_attr_r8(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    real(c_double), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    real(c_double), target :: v(1)
    v(1) = value
    st = put_attr(c_null_ptr, batch, key, array, NPK_ATTR_FLOAT64, c_loc(v), 1_c_int64_t)
  end function bset_attr_r8

  function bset_attr_r4(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    real(c_float), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = bset_attr_r8(batch, key, real(value, c_double), array)
  end function bset_attr_r4

  function bset_attr_str(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    character(*), intent(in) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    character(kind=c_char), allocatable, target :: v(:)
    integer :: i
    allocate (v(max(len(value), 1)))
    do i = 1, len(value)
      v(i) = value(i:i)
    end do
    st = put_attr(c_null_ptr, batch, key, array, NPK_ATTR_STRING, c_loc(v), &
      int(len(value), c_int64_t))
  end function bset_attr_str

  function bset_attr_vi8(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    integer(c_int64_t), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    integer(c_int64_t), allocatable, target :: v(:)
    allocate (v(max(size(value), 1)))
    v(1:size(value)) = value
    st = put_attr(c_null_ptr, batch, key, array, NPK_ATTR_INT64_VECTOR, c_loc(v), &
      int(size(value), c_int64_t))
  end function bset_attr_vi8

  function bset_attr_vi4(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    integer(c_int32_t), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = bset_attr_vi8(batch, key, int(value, c_int64_t), array)
  end function bset_attr_vi4

  function bset_attr_vr8(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    real(c_double), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    real(c_double), allocatable, target :: v(:)
    allocate (v(max(size(value), 1)))
    v(1:size(value)) = value
    st = put_attr(c_null_ptr, batch, key, array, NPK_ATTR_FLOAT64_VECTOR, c_loc(v), &
      int(size(value), c_int64_t))
  end function bset_attr_vr8

  function bset_attr_vr4(batch, key, value, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    real(c_float), intent(in) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    st = bset_attr_vr8(batch, key, real(value, c_double), array)
  end function bset_attr_vr4

  !> st = npk_attr_info(store, key, type, length [, array]): the stored type (NPK_ATTR_*) and
  !> length (elements; bytes for a string).
  function npk_attr_info(store, key, type, length, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int32_t), intent(out) :: type
    integer(c_int64_t), intent(out) :: length
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    type = 0
    length = 0
    if (present(array)) then
      st = lib(npk_attr_query(store, npk_cstr(array), npk_cstr(key), type, length))
    else
      st = lib(npk_attr_query(store, key=npk_cstr(key), out_type=type, out_len=length))
    end if
  end function npk_attr_info

  ! Reads attribute `key` as `type` into buf (cap elements); n is the stored length.
  function fetch_attr(store, key, array, type, buf, cap, n) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    character(*), intent(in), optional :: array
    integer(c_int32_t), intent(in) :: type
    type(c_ptr), intent(in) :: buf
    integer(c_int64_t), intent(in) :: cap
    integer(c_int64_t), intent(out) :: n
    integer(c_int32_t) :: st
    n = 0
    if (present(array)) then
      st = lib(npk_attr_get(store, npk_cstr(array), npk_cstr(key), type, buf, cap, n))
    else
      st = lib(npk_attr_get(store, key=npk_cstr(key), type=type, buf=buf, buf_len=cap, &
        out_len=n))
    end if
  end function fetch_attr

  function get_attr_i8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int64_t), intent(out) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    integer(c_int64_t), target :: v(1)
    integer(c_int64_t) :: n
    value = 0
    st = fetch_attr(store, key, array, NPK_ATTR_INT64, c_loc(v), 1_c_int64_t, n)
    if (st == NPK_OK) value = v(1)
  end function get_attr_i8

  function get_attr_r8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    real(c_double), intent(out) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    real(c_double), target :: v(1)
    integer(c_int64_t) :: n
    value = 0
    st = fetch_attr(store, key, array, NPK_ATTR_FLOAT64, c_loc(v), 1_c_int64_t, n)
    if (st == NPK_OK) value = v(1)
  end function get_attr_r8

  function get_attr_str(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    character(len=:), allocatable, intent(out) :: value
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    character(kind=c_char), allocatable, target :: buf(:)
    integer(c_int64_t) :: n, i, cap
    value = ''
    n = 0
    do
      if (allocated(buf)) deallocate (buf)
      cap = n + 1
      allocate (buf(cap))
      st = fetch_attr(store, key, array, NPK_ATTR_STRING, c_loc(buf), cap, n)
      if (st /= NPK_BUFFER_TOO_SMALL) exit ! the first call asks for the length
    end do
    if (st /= NPK_OK) return
    deallocate (value)
    allocate (character(len=n) :: value)
    do i = 1, n
      value(i:i) = buf(i)
    end do
  end function get_attr_str

  function get_attr_vi8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    integer(c_int64_t), allocatable, intent(out) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    integer(c_int64_t), allocatable, target :: buf(:)
    integer(c_int64_t) :: n, cap
    n = 0
    do
      if (allocated(buf)) deallocate (buf)
      cap = n
      allocate (buf(max(cap, 1_c_int64_t)))
      st = fetch_attr(store, key, array, NPK_ATTR_INT64_VECTOR, c_loc(buf), cap, n)
      if (st /= NPK_BUFFER_TOO_SMALL) exit
    end do
    allocate (value(0))
    if (st /= NPK_OK) return
    value = buf(1:n)
  end function get_attr_vi8

  function get_attr_vr8(store, key, value, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    real(c_double), allocatable, intent(out) :: value(:)
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    real(c_double), allocatable, target :: buf(:)
    integer(c_int64_t) :: n, cap
    n = 0
    do
      if (allocated(buf)) deallocate (buf)
      cap = n
      allocate (buf(max(cap, 1_c_int64_t)))
      st = fetch_attr(store, key, array, NPK_ATTR_FLOAT64_VECTOR, c_loc(buf), cap, n)
      if (st /= NPK_BUFFER_TOO_SMALL) exit
    end do
    allocate (value(0))
    if (st /= NPK_OK) return
    value = buf(1:n)
  end function get_attr_vr8

  !> st = npk_delete_attr(store, key [, array]): deletes an attribute (NPK_NOT_FOUND if none).
  function npk_delete_attr(store, key, array) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: key
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    if (present(array)) then
      st = lib(npk_attr_delete(store, npk_cstr(array), npk_cstr(key)))
    else
      st = lib(npk_attr_delete(store, key=npk_cstr(key)))
    end if
  end function npk_delete_attr

  !> st = npk_batch_delete_attr(batch, key [, array]): as npk_delete_attr in a cache batch.
  function npk_batch_delete_attr(batch, key, array) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: key
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    if (present(array)) then
      st = lib(npk_batch_attr_delete(batch, npk_cstr(array), npk_cstr(key)))
    else
      st = lib(npk_batch_attr_delete(batch, key=npk_cstr(key)))
    end if
  end function npk_batch_delete_attr

  !> st = npk_attr_names(store, list [, array]): list%names = the attribute keys, sorted,
  !> blank-padded (as npk_list_names).
  function npk_attr_names(store, list, array) result(st)
    type(c_ptr), intent(in) :: store
    type(npk_name_list), intent(out) :: list
    character(*), intent(in), optional :: array
    integer(c_int32_t) :: st
    character(kind=c_char), allocatable, target :: buf(:)
    integer(c_int64_t) :: needed, count, i, j, start, longest, k, cap
    allocate (character(len=0) :: list%names(0))
    needed = 0
    count = 0
    do
      if (allocated(buf)) deallocate (buf)
      cap = needed
      allocate (buf(max(cap, 1_c_int64_t)))
      if (present(array)) then
        st = lib(npk_attr_list(store, npk_cstr(array), c_loc(buf), cap, needed, count))
      else
        st = lib(npk_attr_list(store, buf=c_loc(buf), buf_len=cap, out_needed=needed, &
          out_count=count))
      end if
      if (st /= NPK_BUFFER_TOO_SMALL) exit ! the first call asks for the size
    end do
    if (st /= NPK_OK) return
    longest = 0
    start = 1
    do i = 1, needed
      if (buf(i) == c_null_char) then
        longest = max(longest, i - start)
        start = i + 1
      end if
    end do
    deallocate (list%names)
    allocate (character(len=longest) :: list%names(count))
    list%names = ''
    start = 1
    k = 1
    do i = 1, needed
      if (buf(i) == c_null_char) then
        if (k <= count) then
          do j = start, i - 1
            list%names(k)(j - start + 1:j - start + 1) = buf(j)
          end do
        end if
        k = k + 1
        start = i + 1
      end if
    end do
  end function npk_attr_names

  ! ---------------------------------------------------------------------------------------
  ! Views and batches
  ! ---------------------------------------------------------------------------------------

  !> npk_view_open by Fortran name: a read-only view of the committed array. Release it with
  !> npk_view_release(view).
  function npk_open_view(store, name, view) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    type(npk_view), intent(inout) :: view
    integer(c_int32_t) :: st
    view%struct_size = int(c_sizeof(view), c_int32_t)
    st = lib(npk_view_open(store, npk_cstr(name), view))
  end function npk_open_view

  !> npk_batch_load by Fortran name: the array's memory inside the batch (writable).
  function npk_batch_load_view(batch, name, view) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    type(npk_view), intent(inout) :: view
    integer(c_int32_t) :: st
    view%struct_size = int(c_sizeof(view), c_int32_t)
    st = lib(npk_batch_load(batch, npk_cstr(name), view))
  end function npk_batch_load_view

  !> Saves a batch view's own memory under `name` (normally the name it was loaded as): in a
  !> cache batch this marks the array changed without a copy, so npk_batch_end writes it (an
  !> array changed through its view but never saved is not written); in a writable batch it is
  !> a no-op.
  function npk_batch_save_view(batch, name, view) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    type(npk_view), intent(in) :: view
    integer(c_int32_t) :: st
    st = lib(npk_batch_save(batch, npk_cstr(name), view%dtype, view%ndim, view%shape, view%data))
  end function npk_batch_save_view

  ! Checks that a Fortran pointer of type `dtype` and rank `prank` fits the view; gives the
  ! reversed (Fortran) shape and the address to point at.
  function view_prep(view, dtype, prank, fshape, cp) result(st)
    type(npk_view), intent(in) :: view
    integer(c_int32_t), intent(in) :: dtype
    integer, intent(in) :: prank
    integer(c_int64_t), intent(out) :: fshape(3)
    type(c_ptr), intent(out) :: cp
    integer(c_int32_t) :: st
    integer(c_int64_t) :: expect
    integer :: k, n
    fshape = 0
    cp = c_null_ptr
    n = int(view%ndim)
    if (prank < 1 .or. prank > 3) then
      st = own_fail(NPK_INVALID_ARGUMENT, 'npk_view_array: pointers of rank 1 to 3 only, not ' &
        // itoa(int(prank, c_int64_t)) // '; use c_f_pointer on view%data')
    else if (view%itemsize == 0) then
      st = own_fail(NPK_INVALID_ARGUMENT, 'npk_view_array: the view is not open (zeroed)')
    else if (view%dtype /= dtype) then
      st = own_fail(NPK_DTYPE_MISMATCH, 'npk_view_array: the view holds ' &
        // npk_dtype_name(view%dtype) // ' but the pointer is ' // npk_dtype_name(dtype))
    else if (n /= prank) then
      st = own_fail(NPK_SHAPE_MISMATCH, 'npk_view_array: the view has rank ' &
        // itoa(int(n, c_int64_t)) // ' but the pointer rank ' // itoa(int(prank, c_int64_t)))
    else
      st = NPK_OK
      if (all(view%shape(1:n) > 0)) then
        if (.not. c_associated(view%data)) then
          st = own_fail(NPK_INVALID_ARGUMENT, 'npk_view_array: the view has elements but no data')
        end if
        expect = view%itemsize
        do k = n, 1, -1
          if (view%shape(k) > 1 .and. view%strides(k) /= expect) then
            st = own_fail(NPK_INVALID_ARGUMENT, 'npk_view_array: the view is not C-contiguous')
          end if
          expect = expect * view%shape(k)
        end do
      end if
      if (st == NPK_OK) then
        fshape(1:n) = view%shape(n:1:-1)
        cp = view%data
        if (.not. c_associated(cp)) cp = c_loc(empty_storage)
      end if
    end if
  end function view_prep

  ! ---------------------------------------------------------------------------------------
  ! Type-independent workers of the generic procedures
  ! ---------------------------------------------------------------------------------------

  ! npk_save / npk_append / npk_batch_save of a contiguous Fortran array: the Fortran shape with
  ! column-major byte strides, so NumPy sees shape(a) with a(i,j) == arr[i-1,j-1].
  function put(op, handle, name, dtype, a) result(st)
    integer, intent(in) :: op
    type(c_ptr), intent(in) :: handle
    character(*), intent(in) :: name
    integer(c_int32_t), intent(in) :: dtype
    type(*), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: shp(rank(a)), strides(rank(a))
    integer(c_int32_t) :: ndim
    type(c_ptr) :: data
    ndim = int(rank(a), c_int32_t)
    shp = shape(a, c_int64_t)
    strides = npk_column_major_strides(shp, npk_dtype_size(dtype))
    data = c_null_ptr
    if (size(a) > 0) data = c_loc(a)
    select case (op)
    case (OP_SAVE)
      st = lib(npk_save(handle, npk_cstr(name), dtype, ndim, shp, data, strides))
    case (OP_APPEND)
      st = lib(npk_append(handle, npk_cstr(name), dtype, ndim, shp, data, strides))
    case default
      st = lib(npk_batch_save(handle, npk_cstr(name), dtype, ndim, shp, data, strides))
    end select
  end function put

  ! npk_load into a contiguous Fortran array, with the same convention as put.
  function get(store, name, dtype, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), intent(in) :: dtype
    type(*), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: shp(rank(a)), strides(rank(a))
    type(c_ptr) :: data
    shp = shape(a, c_int64_t)
    strides = npk_column_major_strides(shp, npk_dtype_size(dtype))
    data = c_null_ptr
    if (size(a) > 0) data = c_loc(a)
    st = lib(npk_load(store, npk_cstr(name), dtype, int(rank(a), c_int32_t), shp, data, strides))
  end function get

  ! The shape to allocate for npk_load_alloc, after checking type and rank against npk_info.
  function alloc_shape(store, name, dtype, arank, shp) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), intent(in) :: dtype
    integer, intent(in) :: arank
    integer(c_int64_t), intent(out) :: shp(3)
    integer(c_int32_t) :: st
    type(npk_array_info) :: info
    shp = 0
    if (arank < 1 .or. arank > 3) then
      st = own_fail(NPK_INVALID_ARGUMENT, 'npk_load_alloc: allocatables of rank 1 to 3 only, not ' &
        // itoa(int(arank, c_int64_t)) // '; use npk_get_info and npk_load_array')
      return
    end if
    info%struct_size = int(c_sizeof(info), c_int32_t)
    st = lib(npk_info(store, npk_cstr(name), info))
    if (st /= NPK_OK) return
    if (info%dtype /= dtype) then
      st = own_fail(NPK_DTYPE_MISMATCH, 'npk_load_alloc: array "' // trim(name) // '" is ' &
        // npk_dtype_name(info%dtype) // ', not ' // npk_dtype_name(dtype))
    else if (int(info%ndim) /= arank) then
      st = own_fail(NPK_SHAPE_MISMATCH, 'npk_load_alloc: array "' // trim(name) &
        // '" has rank ' // itoa(int(info%ndim, c_int64_t)) // ', not ' &
        // itoa(int(arank, c_int64_t)))
    else
      shp(1:arank) = info%shape(1:arank)
    end if
  end function alloc_shape

  ! ---------------------------------------------------------------------------------------
  ! Specific procedures of the generics, one set per type (mechanically identical)
  ! ---------------------------------------------------------------------------------------

  ! real(c_float): NPK_FLOAT32

  function save_r4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_float), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_FLOAT32, a)
  end function save_r4

  function append_r4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_float), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_FLOAT32, a)
  end function append_r4

  function batch_save_r4(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    real(c_float), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_FLOAT32, a)
  end function batch_save_r4

  function load_r4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_float), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_FLOAT32, a)
  end function load_r4

  function load_alloc_r4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_float), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_FLOAT32, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_FLOAT32, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_FLOAT32, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_FLOAT32, a)
    end select
  end function load_alloc_r4

  function view_r4(view, p) result(st)
    type(npk_view), intent(in) :: view
    real(c_float), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_FLOAT32, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_r4

  ! real(c_double): NPK_FLOAT64

  function save_r8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_double), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_FLOAT64, a)
  end function save_r8

  function append_r8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_double), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_FLOAT64, a)
  end function append_r8

  function batch_save_r8(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    real(c_double), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_FLOAT64, a)
  end function batch_save_r8

  function load_r8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_double), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_FLOAT64, a)
  end function load_r8

  function load_alloc_r8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_double), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_FLOAT64, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_FLOAT64, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_FLOAT64, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_FLOAT64, a)
    end select
  end function load_alloc_r8

  function view_r8(view, p) result(st)
    type(npk_view), intent(in) :: view
    real(c_double), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_FLOAT64, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_r8

  ! integer(c_int8_t): NPK_INT8

  function save_i1(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_INT8, a)
  end function save_i1

  function append_i1(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_INT8, a)
  end function append_i1

  function batch_save_i1(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_INT8, a)
  end function batch_save_i1

  function load_i1(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_INT8, a)
  end function load_i1

  function load_alloc_i1(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_INT8, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_INT8, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_INT8, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_INT8, a)
    end select
  end function load_alloc_i1

  function view_i1(view, p) result(st)
    type(npk_view), intent(in) :: view
    integer(c_int8_t), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_INT8, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_i1

  ! integer(c_int16_t): NPK_INT16

  function save_i2(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_INT16, a)
  end function save_i2

  function append_i2(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_INT16, a)
  end function append_i2

  function batch_save_i2(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_INT16, a)
  end function batch_save_i2

  function load_i2(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_INT16, a)
  end function load_i2

  function load_alloc_i2(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_INT16, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_INT16, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_INT16, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_INT16, a)
    end select
  end function load_alloc_i2

  function view_i2(view, p) result(st)
    type(npk_view), intent(in) :: view
    integer(c_int16_t), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_INT16, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_i2

  ! integer(c_int32_t): NPK_INT32

  function save_i4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_INT32, a)
  end function save_i4

  function append_i4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_INT32, a)
  end function append_i4

  function batch_save_i4(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_INT32, a)
  end function batch_save_i4

  function load_i4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_INT32, a)
  end function load_i4

  function load_alloc_i4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_INT32, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_INT32, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_INT32, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_INT32, a)
    end select
  end function load_alloc_i4

  function view_i4(view, p) result(st)
    type(npk_view), intent(in) :: view
    integer(c_int32_t), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_INT32, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_i4

  ! integer(c_int64_t): NPK_INT64

  function save_i8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_INT64, a)
  end function save_i8

  function append_i8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_INT64, a)
  end function append_i8

  function batch_save_i8(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_INT64, a)
  end function batch_save_i8

  function load_i8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_INT64, a)
  end function load_i8

  function load_alloc_i8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_INT64, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_INT64, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_INT64, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_INT64, a)
    end select
  end function load_alloc_i8

  function view_i8(view, p) result(st)
    type(npk_view), intent(in) :: view
    integer(c_int64_t), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_INT64, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_i8

  ! complex(c_float_complex): NPK_COMPLEX64

  function save_c4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_COMPLEX64, a)
  end function save_c4

  function append_c4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_COMPLEX64, a)
  end function append_c4

  function batch_save_c4(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_COMPLEX64, a)
  end function batch_save_c4

  function load_c4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_COMPLEX64, a)
  end function load_c4

  function load_alloc_c4(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_COMPLEX64, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_COMPLEX64, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_COMPLEX64, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_COMPLEX64, a)
    end select
  end function load_alloc_c4

  function view_c4(view, p) result(st)
    type(npk_view), intent(in) :: view
    complex(c_float_complex), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_COMPLEX64, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_c4

  ! complex(c_double_complex): NPK_COMPLEX128

  function save_c8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_COMPLEX128, a)
  end function save_c8

  function append_c8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_COMPLEX128, a)
  end function append_c8

  function batch_save_c8(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_COMPLEX128, a)
  end function batch_save_c8

  function load_c8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_COMPLEX128, a)
  end function load_c8

  function load_alloc_c8(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_COMPLEX128, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_COMPLEX128, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_COMPLEX128, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_COMPLEX128, a)
    end select
  end function load_alloc_c8

  function view_c8(view, p) result(st)
    type(npk_view), intent(in) :: view
    complex(c_double_complex), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_COMPLEX128, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_c8

  ! logical(c_bool): NPK_BOOL

  function save_lb(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_SAVE, store, name, NPK_BOOL, a)
  end function save_lb

  function append_lb(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_APPEND, store, name, NPK_BOOL, a)
  end function append_lb

  function batch_save_lb(batch, name, a) result(st)
    type(c_ptr), intent(in) :: batch
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), intent(in), target, contiguous :: a
    integer(c_int32_t) :: st
    st = put(OP_BATCH_SAVE, batch, name, NPK_BOOL, a)
  end function batch_save_lb

  function load_lb(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), intent(inout), target, contiguous :: a
    integer(c_int32_t) :: st
    st = get(store, name, NPK_BOOL, a)
  end function load_lb

  function load_alloc_lb(store, name, a) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), allocatable, intent(inout) :: a
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    st = alloc_shape(store, name, NPK_BOOL, rank(a), s)
    if (st /= NPK_OK) return
    select rank (a)
    rank (1)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1)))
      st = get(store, name, NPK_BOOL, a)
    rank (2)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2)))
      st = get(store, name, NPK_BOOL, a)
    rank (3)
      if (allocated(a)) deallocate (a)
      allocate (a(s(1), s(2), s(3)))
      st = get(store, name, NPK_BOOL, a)
    end select
  end function load_alloc_lb

  function view_lb(view, p) result(st)
    type(npk_view), intent(in) :: view
    logical(c_bool), dimension(..), pointer, intent(out) :: p
    integer(c_int32_t) :: st
    integer(c_int64_t) :: s(3)
    type(c_ptr) :: cp
    st = view_prep(view, NPK_BOOL, rank(p), s, cp)
    select rank (p)
    rank (1)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:1))
    rank (2)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:2))
    rank (3)
      nullify (p)
      if (st == NPK_OK) call c_f_pointer(cp, p, s(1:3))
    end select
  end function view_lb


  ! ---------------------------------------------------------------------------------------
  ! Sized arrays and blocks: type-independent workers
  ! ---------------------------------------------------------------------------------------

  ! Integer bounds of kind c_int32_t or c_int64_t as c_int64_t.
  function int_list(x, what, out) result(st)
    class(*), intent(in) :: x(:)
    character(*), intent(in) :: what
    integer(c_int64_t), intent(out) :: out(size(x))
    integer(c_int32_t) :: st
    st = NPK_OK
    out = 0
    select type (x)
    type is (integer(c_int32_t))
      out = x
    type is (integer(c_int64_t))
      out = x
    class default
      st = own_fail(NPK_INVALID_ARGUMENT, what // ': integers of kind c_int32_t or c_int64_t only')
    end select
  end function int_list

  function create_any(store, name, dtype, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), intent(in) :: dtype
    class(*), intent(in) :: dims(:)
    type(c_ptr), intent(in) :: fill
    integer(c_int32_t) :: st
    integer(c_int64_t) :: shp(size(dims))
    st = int_list(dims, 'npk_create_array: dims', shp)
    if (st /= NPK_OK) return
    st = lib(npk_create(store, npk_cstr(name), dtype, int(size(dims), c_int32_t), shp, fill))
  end function create_any

  ! The library's offset and count (0-based, same dimension order: the Fortran view and the
  ! stored array have the same shape) of the 1-based inclusive block istart..iend, checked
  ! against the user array of shape ashp.
  function block_args(what, ashp, istart, iend, offset, count) result(st)
    character(*), intent(in) :: what
    integer(c_int64_t), intent(in) :: ashp(:)
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int64_t), intent(out) :: offset(size(istart)), count(size(istart))
    integer(c_int32_t) :: st
    integer(c_int64_t) :: first(size(istart)), last(size(istart))
    integer :: k
    offset = 0
    count = 0
    st = int_list(istart, what // ': istart', first)
    if (st /= NPK_OK) return
    if (present(iend)) then
      if (size(iend) /= size(istart)) then
        st = own_fail(NPK_INVALID_ARGUMENT, what // ': istart has ' &
          // itoa(int(size(istart), c_int64_t)) // ' entries, iend ' // itoa(int(size(iend), c_int64_t)))
        return
      end if
      st = int_list(iend, what // ': iend', last)
      if (st /= NPK_OK) return
    else if (size(ashp) /= size(istart)) then
      st = own_fail(NPK_INVALID_ARGUMENT, what // ': without iend the array must have rank ' &
        // itoa(int(size(istart), c_int64_t)) // ' (one per istart), not ' // itoa(int(size(ashp), c_int64_t)))
      return
    else
      last = first + ashp - 1
    end if
    do k = 1, size(istart)
      if (first(k) < 1) then
        st = own_fail(NPK_INVALID_ARGUMENT, what // ': dimension ' // itoa(int(k, c_int64_t)) &
          // ': istart ' // itoa(first(k)) // ' is below 1 (Fortran bounds start at 1)')
        return
      end if
      if (last(k) < first(k) - 1) then
        st = own_fail(NPK_INVALID_ARGUMENT, what // ': dimension ' // itoa(int(k, c_int64_t)) &
          // ': iend ' // itoa(last(k)) // ' is below istart ' // itoa(first(k)) // ' - 1')
        return
      end if
    end do
    offset = first - 1
    count = last - first + 1
    if (size(ashp) == size(istart)) then
      if (any(ashp /= count)) then
        st = own_fail(NPK_SHAPE_MISMATCH, what // ': the array has shape ' // dims_str(ashp) &
          // ', the block istart..iend ' // dims_str(count))
        return
      end if
    else if (product(ashp) /= product(count)) then
      st = own_fail(NPK_SHAPE_MISMATCH, what // ': the array has ' // itoa(product(ashp)) &
        // ' elements, the block istart..iend ' // dims_str(count) // ' has ' // itoa(product(count)))
      return
    end if
  end function block_args

  pure function dims_str(d) result(s)
    integer(c_int64_t), intent(in) :: d(:)
    character(len=:), allocatable :: s
    integer :: k
    s = '('
    do k = 1, size(d)
      if (k > 1) s = s // ','
      s = s // itoa(d(k))
    end do
    s = s // ')'
  end function dims_str

  ! npk_read_block into a contiguous Fortran array: the block's extents with column-major byte
  ! strides, so a(i,j) is stored element (istart(1)+i-1, istart(2)+j-1).
  function get_block(store, name, dtype, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), intent(in) :: dtype
    type(*), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    integer(c_int64_t) :: offset(size(istart)), count(size(istart)), strides(size(istart))
    type(c_ptr) :: data
    st = block_args('npk_read_block_array', shape(a, c_int64_t), istart, iend, offset, count)
    if (st /= NPK_OK) return
    strides = npk_column_major_strides(count, npk_dtype_size(dtype))
    data = c_null_ptr
    if (size(a) > 0) data = c_loc(a)
    st = lib(npk_read_block(store, npk_cstr(name), dtype, int(size(istart), c_int32_t), offset, &
      count, data, strides))
  end function get_block

  ! npk_write_block from a contiguous Fortran array, with the same convention as get_block.
  function put_block(store, name, dtype, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), intent(in) :: dtype
    type(*), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    integer(c_int64_t) :: offset(size(istart)), count(size(istart)), strides(size(istart))
    type(c_ptr) :: data
    st = block_args('npk_write_block_array', shape(a, c_int64_t), istart, iend, offset, count)
    if (st /= NPK_OK) return
    strides = npk_column_major_strides(count, npk_dtype_size(dtype))
    data = c_null_ptr
    if (size(a) > 0) data = c_loc(a)
    st = lib(npk_write_block(store, npk_cstr(name), dtype, int(size(istart), c_int32_t), offset, &
      count, data, strides))
  end function put_block

  ! ---------------------------------------------------------------------------------------
  ! Sized arrays and blocks: specific procedures, one set per type (mechanically identical)
  ! ---------------------------------------------------------------------------------------

  function create_r4(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    real(c_float), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_FLOAT32, dims, c_loc(fill))
  end function create_r4

  function read_block_r4(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_float), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_FLOAT32, a, istart, iend)
  end function read_block_r4

  function write_block_r4(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_float), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_FLOAT32, a, istart, iend)
  end function write_block_r4

  function create_r8(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    real(c_double), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_FLOAT64, dims, c_loc(fill))
  end function create_r8

  function read_block_r8(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_double), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_FLOAT64, a, istart, iend)
  end function read_block_r8

  function write_block_r8(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    real(c_double), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_FLOAT64, a, istart, iend)
  end function write_block_r8

  function create_i1(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    integer(c_int8_t), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_INT8, dims, c_loc(fill))
  end function create_i1

  function read_block_i1(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_INT8, a, istart, iend)
  end function read_block_i1

  function write_block_i1(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int8_t), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_INT8, a, istart, iend)
  end function write_block_i1

  function create_i2(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    integer(c_int16_t), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_INT16, dims, c_loc(fill))
  end function create_i2

  function read_block_i2(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_INT16, a, istart, iend)
  end function read_block_i2

  function write_block_i2(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int16_t), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_INT16, a, istart, iend)
  end function write_block_i2

  function create_i4(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    integer(c_int32_t), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_INT32, dims, c_loc(fill))
  end function create_i4

  function read_block_i4(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_INT32, a, istart, iend)
  end function read_block_i4

  function write_block_i4(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int32_t), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_INT32, a, istart, iend)
  end function write_block_i4

  function create_i8(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    integer(c_int64_t), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_INT64, dims, c_loc(fill))
  end function create_i8

  function read_block_i8(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_INT64, a, istart, iend)
  end function read_block_i8

  function write_block_i8(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    integer(c_int64_t), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_INT64, a, istart, iend)
  end function write_block_i8

  function create_c4(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    complex(c_float_complex), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_COMPLEX64, dims, c_loc(fill))
  end function create_c4

  function read_block_c4(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_COMPLEX64, a, istart, iend)
  end function read_block_c4

  function write_block_c4(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_float_complex), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_COMPLEX64, a, istart, iend)
  end function write_block_c4

  function create_c8(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    complex(c_double_complex), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_COMPLEX128, dims, c_loc(fill))
  end function create_c8

  function read_block_c8(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_COMPLEX128, a, istart, iend)
  end function read_block_c8

  function write_block_c8(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    complex(c_double_complex), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_COMPLEX128, a, istart, iend)
  end function write_block_c8

  function create_lb(store, name, dims, fill) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    class(*), intent(in) :: dims(:)
    logical(c_bool), intent(in), target :: fill
    integer(c_int32_t) :: st
    st = create_any(store, name, NPK_BOOL, dims, c_loc(fill))
  end function create_lb

  function read_block_lb(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), intent(inout), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = get_block(store, name, NPK_BOOL, a, istart, iend)
  end function read_block_lb

  function write_block_lb(store, name, a, istart, iend) result(st)
    type(c_ptr), intent(in) :: store
    character(*), intent(in) :: name
    logical(c_bool), dimension(..), intent(in), target, contiguous :: a
    class(*), intent(in) :: istart(:)
    class(*), intent(in), optional :: iend(:)
    integer(c_int32_t) :: st
    st = put_block(store, name, NPK_BOOL, a, istart, iend)
  end function write_block_lb

end module numpack

# NumPack.jl usage. Julia itself is NOT run in CI (none can be installed there): tests/julia_proxy
# parses this file and replays the same calls through a Python ctypes proxy of the binding.
push!(LOAD_PATH, @__DIR__); using NumPack  # julia/ is the package; set ENV["LIBNUMPACK"] to libnumpack.so

Store(joinpath(mktempdir(), "sim.npk"); create=true) do s
    field = reshape(collect(1.0:12.0), 4, 3)        # 4×3 column-major; NumPy: arr[i-1, j-1] == field[i, j]
    save!(s, "field", field)
    append!(s, "field", [13.0 14.0 15.0])           # one more row
    replace_rows!(s, "field", [1], fill(-1.0, 1, 3)) # row numbers are 1-based
    @assert load(s, "field")[5, :] == [13.0, 14.0, 15.0]
    writable_batch(s) do b                          # zero-copy: writes go to the file in place
        A = load(b, "field")
        A .*= 2
    end
    batch(s) do b                                   # cached; every save! commits together at the end
        save!(b, "steps", collect(Int32, 1:10))
    end
    @assert load(s, "field")[1, 1] == -2.0 && keys(s) == ["field", "steps"]
    println(info(s, "field").shape)                 # (5, 3)
end
